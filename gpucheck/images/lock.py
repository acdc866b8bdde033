"""The base-image lock: nvidia/cuda tag → manifest digest, read from and written to a small JSON file.

``gpucheck image lock`` asks the registry for each tag's digest (the Docker Registry HTTP API: an anonymous
pull token, then ``HEAD /v2/<repo>/manifests/<tag>``, whose ``Docker-Content-Digest`` header is the digest a
``FROM tag@digest`` line pins). Where the registry cannot be reached the file is left as it was and the error
says so. A tag whose digest is not known is kept with ``"digest": null``: rendering refuses it.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

DATA = Path(__file__).parent / "data"
DEFAULT_LOCK = DATA / "base-images.lock.json"
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)


class LockError(ValueError):
    """The lock file cannot be read, or a tag cannot be pinned."""


@dataclass(frozen=True)
class LockEntry:
    """One tag's pin and where the digest came from."""

    digest: str | None
    source: str


@dataclass(frozen=True)
class BaseLock:
    """All pins of a lock file."""

    entries: dict[str, LockEntry] = field(default_factory=dict)

    def pinned_ref(self, tag: str) -> str:
        """``tag@digest`` for a locked tag.

        Raises:
            LockError: the tag is not in the lock or its digest is unknown.
        """
        entry = self.entries.get(tag)
        if entry is None:
            raise LockError(f"{tag} is not in the base-image lock: run `gpucheck image lock --tag {tag}`")
        if entry.digest is None:
            raise LockError(f"the digest of {tag} is unknown ({entry.source}): run `gpucheck image lock`")
        return f"{tag}@{entry.digest}"


def parse_lock(text: str) -> BaseLock:
    """Parse a lock file's JSON text; raise LockError quoting what is wrong."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LockError(f"lock file is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, dict):
        raise LockError('lock file needs an "images" object mapping tag → {"digest", "source"}')
    entries = {}
    for tag, entry in images.items():
        digest = entry.get("digest") if isinstance(entry, dict) else ""
        if digest is not None and not (isinstance(digest, str) and DIGEST_RE.match(digest)):
            raise LockError(f"{tag}: digest must be sha256:<64 hex> or null, got {digest!r}")
        entries[tag] = LockEntry(digest=digest, source=str(entry.get("source", "")))
    return BaseLock(entries)


def load_lock(path: Path = DEFAULT_LOCK) -> BaseLock:
    """Read and parse the lock file at ``path``."""
    try:
        return parse_lock(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LockError(f"cannot read {path}: {exc.strerror}") from None


def dump_lock(lock: BaseLock) -> str:
    """The lock as stable JSON text (sorted keys, 2-space indent, trailing newline)."""
    images = {tag: {"digest": e.digest, "source": e.source} for tag, e in sorted(lock.entries.items())}
    return json.dumps({"images": images}, indent=2, sort_keys=True) + "\n"


def _split_tag(tag: str) -> tuple[str, str]:
    repo, _, name = tag.rpartition(":")
    if not repo or "/" in name:
        raise LockError(f"{tag} is not repository:tag")
    return (repo if "/" in repo else f"library/{repo}"), name


def resolve_digest(tag: str, *, registry: str, auth: str, timeout_s: float = 15.0) -> str:
    """Ask the registry for ``tag``'s manifest digest.

    Raises:
        LockError: the registry could not be reached or did not answer with a digest.
    """
    repo, name = _split_tag(tag)
    try:
        token_url = f"{auth}?service=registry.docker.io&scope=repository:{repo}:pull"
        with urllib.request.urlopen(token_url, timeout=timeout_s) as resp:  # noqa: S310 - fixed https URL
            token = json.load(resp)["token"]
        request = urllib.request.Request(
            f"{registry}/v2/{repo}/manifests/{name}",
            method="HEAD",
            headers={"Accept": MANIFEST_TYPES, "Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(request, timeout=timeout_s) as resp:  # noqa: S310
            digest = resp.headers.get("Docker-Content-Digest", "")
    except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
        reason = getattr(exc, "reason", exc)
        raise LockError(f"cannot reach the registry for {tag} ({registry}): {reason}") from None
    if not DIGEST_RE.match(digest):
        raise LockError(f"{registry} answered for {tag} without a sha256 digest header")
    return digest


def refresh(
    lock: BaseLock,
    tags: list[str],
    *,
    registry: str = "https://registry-1.docker.io",
    auth: str = "https://auth.docker.io/token",
) -> BaseLock:
    """A new lock with ``tags`` (default: every locked tag) resolved from the registry.

    All-or-nothing: the first tag that cannot be resolved raises LockError and no pin changes.
    """
    entries = dict(lock.entries)
    for tag in tags or sorted(entries):
        digest = resolve_digest(tag, registry=registry, auth=auth)
        entries[tag] = LockEntry(digest=digest, source=f"resolved from {registry} by `gpucheck image lock`")
    return BaseLock(entries)
