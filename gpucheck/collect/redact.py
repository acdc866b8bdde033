"""Redaction of secrets, by name and by value, applied to every piece of evidence before it is kept.

A variable is secret when its name looks like a credential (``*_TOKEN``, ``*PASSWORD*``, ``*_PASS``,
``MYSQL_PWD``, ``*_KEY``, ``CI_JOB_JWT`` ...) or its value carries credentials (``scheme://user:pass@host``,
``?password=``, ``AccountKey=``). Its value is replaced in the environment evidence, and every occurrence of
the value in any other evidence (a worker echoing its environment, a command line, the same value
JSON- or percent-encoded) is replaced too, so neither a snapshot nor a report can leak it. Text is also
scrubbed on its own: credentials in URLs, ``NAME=value`` and JSON ``"name": "value"`` pairs whose name looks
secret (a daemon.json ``"auth"`` blob), and connection-string keys.

Two rules keep the evidence readable: a value shorter than ``MIN_SECRET_LEN`` characters or a common word
is redacted where it stands (the variable itself) but not hunted for elsewhere, so ``DB_PASSWORD=nvidia``
does not turn ``nvidia-smi`` into ``***REDACTED***-smi``. Every pattern here is linear-time: each regex
match attempt is anchored by a lookbehind or a bounded name, and URL credentials are found by a scan.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from urllib.parse import quote

from gpucheck.collect.evidence import Item

REDACTED = "***REDACTED***"
SECRET_NAME = re.compile(
    r"(TOKEN|SECRET|PASSW(OR)?D|PASSPHRASE|CREDENTIAL|API_?KEY|ACCESS_?KEY|ACCOUNT_?KEY|APP_?KEY|"
    r"PRIVATE_?KEY|SHARED_?ACCESS|SIGNATURE|AUTH|COOKIE|SESSION|JWT|WEBHOOK|"
    r"_PAT$|^PAT$|DSN$|_PASS$|^PASS$|_PWD$|^PWD_|_KEY$|^KEY$)",
    re.IGNORECASE,
)
"""Names whose value is a credential. NOTE: ``PWD``/``OLDPWD`` (working directories) do not match."""

NOT_SECRET_NAMES = frozenset(
    "PWD OLDPWD SSH_AUTH_SOCK XDG_SESSION_ID XDG_SESSION_TYPE XDG_SESSION_CLASS XDG_SESSION_DESKTOP "
    "DBUS_SESSION_BUS_ADDRESS".split()
)
"""Well-known variables whose names match ``SECRET_NAME`` but hold a path, an id or a socket address."""

MIN_SECRET_LEN = 8
"""Shorter values are not scrubbed from other text (replacing every "1" would destroy the evidence)."""

COMMON_WORDS = frozenset(
    """
    password passwords changeme localhost nvidia-smi nvidia-container-runtime containerd container
    containers default defaults disabled enabled unknown undefined required optional none null true false
    docker-desktop development production staging username anonymous administrator passphrase
    unix:///var/run/docker.sock /var/run/docker.sock /usr/local/cuda /usr/bin/python3 python3
    """.split()
)
"""Values never hunted for in other text even when a secret variable holds them: doing so would only
mangle ordinary evidence (they are still redacted in the variable itself)."""

_NAME_VALUE = re.compile(r"(?<![A-Za-z0-9_.])([A-Za-z_][A-Za-z0-9_.\-]{0,63})=([^\s\"'&;<>]+)")
"""``NAME=value`` (an environment dump, a command line, a query parameter, a connection string)."""
_JSON_PAIR = re.compile(r"\"([A-Za-z_][A-Za-z0-9_.\-]{0,63})\"[ \t]*+:[ \t]*+\"((?:[^\"\\\n]|\\.)*+)\"")
"""``"name": "value"`` on one line (a JSON config such as daemon.json or ~/.docker/config.json)."""
_URL_TOKEN = re.compile(r"[^\s\"'<>`]*")
"""The rest of a URL token from a given position (one match attempt: linear)."""


def is_secret_name(name: str) -> bool:
    """Whether an environment variable's (or a key's) name marks its value as a credential."""
    return name.upper() not in NOT_SECRET_NAMES and bool(SECRET_NAME.search(name.replace("-", "_")))


def huntable(value: str) -> bool:
    """Whether a secret value is distinctive enough to be replaced wherever it appears."""
    return len(value) >= MIN_SECRET_LEN and value.lower() not in COMMON_WORDS and bool(value.strip())


def _encoded_forms(value: str) -> set[str]:
    """The value as it appears when a probe prints it JSON-escaped or percent-encoded."""
    forms = {
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        quote(value.encode("utf-8", "surrogatepass"), safe=""),
    }
    return {f for f in forms if huntable(f)}


def url_credentials(text: str) -> list[tuple[int, int]]:
    """The ``(start, end)`` spans of passwords in ``scheme://user:password@host`` anywhere in ``text``.

    The password runs from the first ``:`` after ``://`` to the *last* ``@`` of the token (a password with
    an unencoded ``/`` or ``@`` is still covered). One left-to-right scan: linear in ``len(text)``.
    """
    spans: list[tuple[int, int]] = []
    pos = 0
    while True:
        sep = text.find("://", pos)
        if sep < 0:
            return spans
        start = sep + 3
        token = _URL_TOKEN.match(text, start)
        end = token.end() if token else start
        pos = end
        at = text.rfind("@", start, end)
        if at < 0:
            continue
        colon = text.find(":", start, at)
        if colon < 0 or "/" in text[start:colon]:
            continue
        if at > colon + 1:
            spans.append((colon + 1, at))


def _replace_spans(text: str, spans: list[tuple[int, int]]) -> str:
    if not spans:
        return text
    parts, last = [], 0
    for start, end in sorted(spans):
        if start < last:
            continue
        parts.append(text[last:start])
        parts.append(REDACTED)
        last = end
    parts.append(text[last:])
    return "".join(parts)


def secrets_in_text(text: str) -> list[tuple[int, int]]:
    """Spans of credential values recognised in free text by their shape (not by a known value)."""
    spans = url_credentials(text)
    for match in _NAME_VALUE.finditer(text):
        if is_secret_name(match.group(1)) and match.group(2) != REDACTED:
            spans.append(match.span(2))
    for match in _JSON_PAIR.finditer(text):
        if is_secret_name(match.group(1)) and match.group(2) and match.group(2) != REDACTED:
            spans.append(match.span(2))
    return spans


def redact_environment(env: Mapping[str, str]) -> tuple[dict[str, str], set[str]]:
    """Return the environment with secrets replaced, and the set of secret values to hunt for elsewhere."""
    redacted: dict[str, str] = {}
    secrets: set[str] = set()
    for name, value in env.items():
        if is_secret_name(name) and value:
            redacted[name] = REDACTED
            secrets.add(value)
            continue
        spans = secrets_in_text(value)
        secrets.update(value[s:e] for s, e in spans)
        redacted[name] = _replace_spans(value, spans)
    return redacted, {form for s in secrets for form in _encoded_forms(s)}


def scrub_text(text: str, secrets: set[str]) -> str:
    """Replace every occurrence of every secret value (longest first), then credentials found by shape."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return _replace_spans(text, secrets_in_text(text))


def _scrub_any(value: object, secrets: set[str]) -> object:
    if isinstance(value, str):
        return scrub_text(value, secrets)
    if isinstance(value, tuple):
        return tuple(_scrub_any(v, secrets) for v in value)
    if isinstance(value, list):
        return [_scrub_any(v, secrets) for v in value]
    if isinstance(value, dict):
        return {
            k: (REDACTED if is_secret_name(str(k)) and isinstance(v, str) and v else _scrub_any(v, secrets))
            for k, v in value.items()
        }
    return value


def scrub_item(item: Item, secrets: set[str]) -> Item:
    """A copy of ``item`` with every secret value replaced in all of its text fields."""
    changes = {}
    for f in dataclasses.fields(item):
        old = getattr(item, f.name)
        new = _scrub_any(old, secrets)
        if new != old:
            changes[f.name] = new
    return dataclasses.replace(item, **changes) if changes else item
