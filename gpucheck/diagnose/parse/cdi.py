"""Parser for Container Device Interface (CDI) specs, as ``nvidia-ctk cdi generate`` writes them.

Command line equivalent: ``nvidia-ctk cdi list`` (which reads the same files under /etc/cdi and /var/run/cdi).
Specs are YAML (the default of ``nvidia-ctk cdi generate``) or JSON, chosen by the file extension as the CDI
library does. PyYAML's ``safe_load`` reads YAML: a hand-rolled subset would misread the flow style
(``args: [nvidia-cdi-hook, update-ldcache]``) that real generated specs mix with block style.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

from gpucheck.collect.evidence import Evidence, FileRead
from gpucheck.diagnose.parse.errors import ParseError


class CdiSpecError(ParseError):
    """A CDI spec that cannot be read; carries the parser's position when it has one."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        where = f" (line {line}, column {column})" if line is not None else ""
        super().__init__(message + where)
        self.line = line
        self.column = column


@dataclass(frozen=True, slots=True)
class CdiHook:
    """One OCI hook a spec injects."""

    hook_name: str
    path: str


@dataclass(frozen=True, slots=True)
class CdiSpec:
    """The parts of a CDI spec gpucheck looks at."""

    kind: str
    """``vendor/class``, e.g. ``nvidia.com/gpu``."""
    cdi_version: str
    devices: tuple[str, ...]
    """Device names as the spec lists them (``0``, ``GPU-<uuid>``, ``all``)."""
    hooks: tuple[CdiHook, ...]
    """Hooks from the spec-wide edits and from every device, without duplicates."""

    @property
    def qualified_devices(self) -> tuple[str, ...]:
        """Fully qualified names, as ``docker run --device`` takes them (``nvidia.com/gpu=all``)."""
        return tuple(f"{self.kind}={name}" for name in self.devices)


def _load(text: str, path: str) -> Any:
    if path.endswith(".json"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise CdiSpecError(exc.msg, exc.lineno, exc.colno) from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        message = str(exc.problem or exc.context or "invalid YAML")
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise CdiSpecError(message, line, column) from None


def _hooks(edits: Any) -> list[CdiHook]:
    hooks = edits.get("hooks") if isinstance(edits, dict) else None
    found = []
    for hook in hooks if isinstance(hooks, list) else ():
        if isinstance(hook, dict) and isinstance(hook.get("path"), str):
            found.append(CdiHook(hook_name=str(hook.get("hookName", "")), path=hook["path"]))
    return found


def parse_cdi_spec(text: str, path: str) -> CdiSpec:
    """Parse one spec's text; ``path`` picks JSON (``.json``) or YAML. ``CdiSpecError`` when unreadable."""
    try:
        data = _load(text, path)
    except CdiSpecError:
        raise
    except Exception as exc:  # noqa: BLE001 - NOTE: PyYAML raises ValueError etc. for e.g. impossible dates
        raise CdiSpecError(f"{type(exc).__name__}: {exc}") from None
    if not isinstance(data, dict):
        raise CdiSpecError("the spec is not a mapping")
    kind, version = data.get("kind"), data.get("cdiVersion")
    if not isinstance(kind, str) or "/" not in kind:
        raise CdiSpecError("the spec has no 'kind: vendor/class'")
    devices = data.get("devices")
    if not isinstance(devices, list):
        raise CdiSpecError("the spec has no 'devices' list")
    names = [str(d.get("name")) for d in devices if isinstance(d, dict) and d.get("name") is not None]
    hooks = _hooks(data.get("containerEdits"))
    for device in devices:
        if isinstance(device, dict):
            hooks.extend(_hooks(device.get("containerEdits")))
    return CdiSpec(
        kind=kind,
        cdi_version=str(version) if version is not None else "",
        devices=tuple(names),
        hooks=tuple(dict.fromkeys(hooks)),
    )


@dataclass(frozen=True, slots=True)
class SpecFile:
    """One spec file found in a CDI spec directory."""

    path: str
    spec: CdiSpec | None
    error: str | None
    """Why it could not be read or parsed (with line/column for a parse error)."""


@dataclass(frozen=True, slots=True)
class CdiFacts:
    """The CDI spec directories, their specs, and whether the hooks they name exist."""

    dirs: tuple[str, ...]
    existing_dirs: tuple[str, ...]
    files: tuple[SpecFile, ...]
    hook_executables: dict[str, bool]

    def devices(self, kind: str = "nvidia.com/gpu") -> tuple[str, ...]:
        """Fully qualified device names of this kind across all specs."""
        specs = (f.spec for f in self.files if f.spec is not None and f.spec.kind == kind)
        return tuple(d for spec in specs for d in spec.qualified_devices)


def cdi_facts(evidence: Evidence) -> CdiFacts:
    """Build ``CdiFacts`` from the ``cdi`` collector's evidence."""
    meta = evidence.value("cdi_spec_dirs")
    data = meta.data if meta is not None and isinstance(meta.data, dict) else {}
    dirs = tuple(data.get("dirs") or ())
    existing = tuple(d for d in dirs if (listing := evidence.dir(d)) is not None and listing.exists)
    files: list[SpecFile] = []
    for directory in existing:
        for read in evidence.with_prefix(f"file:{directory.rstrip('/')}/"):
            if not isinstance(read, FileRead):
                continue
            if read.content is None:
                files.append(SpecFile(read.path, None, read.error or "unreadable"))
                continue
            try:
                files.append(SpecFile(read.path, parse_cdi_spec(read.content, read.path), None))
            except CdiSpecError as exc:
                files.append(SpecFile(read.path, None, str(exc)))
    return CdiFacts(dirs, existing, tuple(files), dict(data.get("hook_executables") or {}))
