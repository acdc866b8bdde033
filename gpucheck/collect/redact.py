"""Redaction of secrets found in environment variables, applied to every piece of evidence.

A variable is secret when its name looks like a credential (``*_TOKEN``, ``*PASSWORD*``,
``AWS_SECRET_ACCESS_KEY``
...) or its value carries credentials in a URL (``https://user:pass@host``). Its value is replaced in the
environment evidence, and every occurrence of the value in any other evidence (a worker echoing its
environment, a command line) is replaced too, so neither a snapshot nor a report can leak it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

from gpucheck.collect.evidence import Item

REDACTED = "***REDACTED***"
SECRET_NAME = re.compile(
    r"(TOKEN|SECRET|PASSW(OR)?D|PASSPHRASE|CREDENTIAL|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|AUTH|COOKIE|SESSION|"
    r"_PAT$|^PAT$|WEBHOOK|DSN$)",
    re.IGNORECASE,
)
URL_CREDENTIALS = re.compile(r"([a-z][a-z0-9+.-]*://)([^/\s:@]+):([^/\s@]+)@", re.IGNORECASE)
MIN_SECRET_LEN = 4
"""Shorter values are not scrubbed from other text (replacing every "1" would destroy the evidence)."""


def is_secret_name(name: str) -> bool:
    """Whether an environment variable's name marks its value as a credential."""
    return bool(SECRET_NAME.search(name))


def redact_environment(env: Mapping[str, str]) -> tuple[dict[str, str], set[str]]:
    """Return the environment with secrets replaced, and the set of secret values found."""
    redacted: dict[str, str] = {}
    secrets: set[str] = set()
    for name, value in env.items():
        if is_secret_name(name) and value:
            redacted[name] = REDACTED
            secrets.add(value)
            continue
        clean = URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}{m.group(2)}:{REDACTED}@", value)
        if clean != value:
            secrets.update(m.group(3) for m in URL_CREDENTIALS.finditer(value))
        redacted[name] = clean
    return redacted, {s for s in secrets if len(s) >= MIN_SECRET_LEN}


def scrub_text(text: str, secrets: set[str]) -> str:
    """Replace every occurrence of every secret value (longest first) in ``text``."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}{m.group(2)}:{REDACTED}@", text)


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
