"""The evidence model: what collectors gather, verbatim, and what a snapshot stores.

Every item is a frozen dataclass with a stable ``key`` and a JSON form (``to_json``/``item_from_json``), so
``gpucheck snapshot`` can write evidence on one machine and ``gpucheck doctor --replay`` diagnose it
on another.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Union


class EvidenceFormatError(ValueError):
    """A serialised evidence item does not have the documented shape."""


@dataclass(frozen=True, slots=True)
class CommandRun:
    """One external command, run with an argv list (never a shell string)."""

    argv: tuple[str, ...]
    """The command line as run; ``argv[0]`` is the name or path asked for."""
    returncode: int | None = None
    """Exit status; negative for a signal (as subprocess reports it); None when it did not run or hung."""
    stdout: str = ""
    """Standard output, decoded as UTF-8 with undecodable bytes replaced."""
    stderr: str = ""
    """Standard error, decoded likewise."""
    duration_s: float = 0.0
    """Wall time of the run."""
    not_found: bool = False
    """The executable was not found on PATH."""
    timed_out: bool = False
    """The command was killed at its timeout."""
    error: str | None = None
    """Why the command could not be started (permission denied, exec format error, ...)."""
    resolved: str | None = None
    """The absolute path that ran, when it was found."""

    kind = "command"

    @property
    def key(self) -> str:
        """``cmd:`` followed by the argv joined with spaces."""
        return "cmd:" + " ".join(self.argv)

    @property
    def ran(self) -> bool:
        """True when the command started and exited by itself."""
        return self.returncode is not None

    @property
    def succeeded(self) -> bool:
        """True when the command exited with status 0."""
        return self.returncode == 0

    def describe_failure(self) -> str:
        """A one-line human description of why this run did not succeed."""
        name = self.argv[0] if self.argv else "?"
        if self.not_found:
            return f"`{name}` was not found on PATH"
        if self.timed_out:
            return f"`{' '.join(self.argv)}` did not finish within {self.duration_s:.1f} s"
        if self.error:
            return f"`{name}` could not be run: {self.error}"
        if self.returncode is not None and self.returncode < 0:
            return f"`{' '.join(self.argv)}` was killed by signal {-self.returncode}"
        last = (self.stderr.strip() or self.stdout.strip()).splitlines()[-1:] or [""]
        return f"`{' '.join(self.argv)}` exited with status {self.returncode}: {last[0]}".rstrip(": ")


@dataclass(frozen=True, slots=True)
class FileRead:
    """One file read (under the sysroot when one is given)."""

    path: str
    """The path as the host sees it (without the sysroot prefix)."""
    content: str | None = None
    """The file's text, or None when it could not be read."""
    exists: bool = False
    """Whether the path exists at all."""
    error: str | None = None
    """Why it could not be read (missing, permission denied, not a regular file, too large ...)."""
    truncated: bool = False
    """True when only the first part of a large file was kept."""

    kind = "file"

    @property
    def key(self) -> str:
        """``file:`` followed by the path."""
        return "file:" + self.path


@dataclass(frozen=True, slots=True)
class DirListing:
    """The entries of one directory, or a glob's matches (under the sysroot)."""

    path: str
    """The directory or glob pattern as the host sees it."""
    entries: tuple[str, ...] = ()
    """Matching names (for a directory) or host paths (for a glob), sorted."""
    exists: bool = False
    """Whether the directory exists (for a glob: whether anything matched)."""
    error: str | None = None
    """Why it could not be listed."""

    kind = "dir"

    @property
    def key(self) -> str:
        """``dir:`` followed by the path or pattern."""
        return "dir:" + self.path


@dataclass(frozen=True, slots=True)
class Value:
    """A structured value gathered in-process: NVML readings, the environment, a library lookup."""

    name: str
    """The evidence key, e.g. ``nvml`` or ``env``."""
    data: Any = None
    """JSON-compatible data (dicts, lists, strings, numbers, booleans, None)."""
    error: str | None = None
    """Why the value could not be gathered."""

    kind = "value"

    @property
    def key(self) -> str:
        """The name itself."""
        return self.name


Item = Union[CommandRun, FileRead, DirListing, Value]  # noqa: UP007 - a runtime alias, evaluated on 3.10 too
_KINDS: dict[str, type] = {cls.kind: cls for cls in (CommandRun, FileRead, DirListing, Value)}


def item_to_json(item: Item) -> dict[str, Any]:
    """The JSON form of one item: its fields plus ``kind``."""
    data = asdict(item)
    if isinstance(item, CommandRun):
        data["argv"] = list(item.argv)
    if isinstance(item, DirListing):
        data["entries"] = list(item.entries)
    return {"kind": item.kind, **data}


def item_from_json(data: Any) -> Item:
    """Rebuild an item from its JSON form; raises ``EvidenceFormatError`` on anything else."""
    if not isinstance(data, dict) or data.get("kind") not in _KINDS:
        raise EvidenceFormatError(f"not an evidence item: {str(data)[:80]!r}")
    cls = _KINDS[data["kind"]]
    fields = {k: v for k, v in data.items() if k != "kind"}
    for name in ("argv", "entries"):
        if name in fields:
            if not isinstance(fields[name], list) or not all(isinstance(x, str) for x in fields[name]):
                raise EvidenceFormatError(f"{data['kind']} item has a malformed {name!r}")
            fields[name] = tuple(fields[name])
    try:
        return cls(**fields)
    except TypeError as exc:
        raise EvidenceFormatError(f"{data['kind']} item: {exc}") from None


@dataclass(frozen=True, slots=True)
class CollectorStatus:
    """How one collector ran."""

    name: str
    """The collector's name."""
    ok: bool
    """False when the collector raised or was abandoned at its timeout."""
    duration_s: float
    """How long it ran (or how long we waited)."""
    error: str | None = None
    """The exception or timeout message."""
    timed_out: bool = False
    """True when it was abandoned at its timeout."""


@dataclass(slots=True)
class Evidence:
    """All evidence of one run: items by key, and how each collector fared."""

    items: dict[str, Item] = field(default_factory=dict)
    collectors: dict[str, CollectorStatus] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    """Where and how the evidence was taken: hostname, sysroot, gpucheck version, time."""

    def add(self, items: Iterable[Item]) -> None:
        """Add items (a later item with the same key replaces an earlier one)."""
        for item in items:
            self.items[item.key] = item

    def get(self, key: str) -> Item | None:
        """The item with this key, or None."""
        return self.items.get(key)

    def command(self, *argv: str) -> CommandRun | None:
        """The run of exactly this argv, or None when it was not collected."""
        item = self.items.get("cmd:" + " ".join(argv))
        return item if isinstance(item, CommandRun) else None

    def file(self, path: str) -> FileRead | None:
        """The read of this host path, or None when it was not collected."""
        item = self.items.get("file:" + path)
        return item if isinstance(item, FileRead) else None

    def dir(self, path: str) -> DirListing | None:
        """The listing of this directory or glob, or None when it was not collected."""
        item = self.items.get("dir:" + path)
        return item if isinstance(item, DirListing) else None

    def value(self, name: str) -> Value | None:
        """The structured value with this name, or None when it was not collected."""
        item = self.items.get(name)
        return item if isinstance(item, Value) else None

    def with_prefix(self, prefix: str) -> Iterator[Item]:
        """Every item whose key starts with ``prefix``, in key order."""
        for key in sorted(self.items):
            if key.startswith(prefix):
                yield self.items[key]

    def collector_failure(self, name: str) -> CollectorStatus | None:
        """The status of a collector that failed, or None when it ran fine or did not run."""
        status = self.collectors.get(name)
        return status if status is not None and not status.ok else None

    @property
    def env(self) -> Mapping[str, str]:
        """The (redacted) environment the probes saw; empty when it was not collected."""
        item = self.value("env")
        return item.data if item is not None and isinstance(item.data, dict) else {}
