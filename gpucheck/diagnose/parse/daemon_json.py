"""Parser for Docker's daemon configuration file (/etc/docker/daemon.json, rootless ~/.config/docker/).

Command line equivalent: ``cat /etc/docker/daemon.json`` (``dockerd --validate`` only catches syntax errors
and flag conflicts; the structural problems dockerd refuses at start are listed by ``DaemonConfig.problems``).
The loader keeps key order and refuses duplicate keys, so ``gpucheck setup docker`` can rewrite the file
without losing or reordering anything it did not mean to touch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gpucheck.collect.evidence import Evidence
from gpucheck.diagnose.parse.errors import ParseError

BUILTIN_RUNTIMES = frozenset({"runc", "io.containerd.runc.v2", "io.containerd.runtime.v1.linux"})
"""Runtime names dockerd defines itself; daemon.json may not redefine them ("runtime name 'runc' is
reserved").
NOTE: ``io.containerd.runtime.v1.linux`` exists on dockerd 20.10 only (docker.md B4)."""


class DaemonJsonError(ParseError):
    """daemon.json is not a JSON object dockerd can load; carries the parser's position when it has one."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        where = f" (line {line}, column {column})" if line is not None else ""
        super().__init__(message + where)
        self.reason = message
        """What is wrong, without the position."""
        self.line = line
        """1-based line of the error, when the JSON parser reported one."""
        self.column = column
        """1-based column of the error, when the JSON parser reported one."""


@dataclass(frozen=True, slots=True)
class RuntimeEntry:
    """One entry of ``runtimes`` in daemon.json."""

    name: str
    path: str | None
    """The ``path`` value (a bare name is looked up on dockerd's PATH), or None when absent."""
    runtime_type: str | None
    """``runtimeType`` (a containerd shim such as ``io.containerd.runc.v2``), or None."""
    args_key: str | None
    """Which arguments spelling is present: ``args`` (nvidia-ctk), ``runtimeArgs`` (Docker's own), or None."""
    args: tuple[str, ...] = ()
    """The arguments under ``args_key``."""


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    """The parts of daemon.json that matter for GPU containers, plus what dockerd would refuse."""

    data: Mapping[str, Any] = field(hash=False)
    """The whole top-level object, in file order."""
    runtimes: tuple[RuntimeEntry, ...] = ()
    default_runtime: str | None = None
    cdi_enabled: bool | None = None
    """``features.cdi``; None when not set (the daemon's own default applies)."""
    cdi_spec_dirs: tuple[str, ...] | None = None
    """``cdi-spec-dirs``; None when not set (dockerd then uses /etc/cdi and /var/run/cdi)."""
    problems: tuple[str, ...] = ()
    """Reasons dockerd would refuse to start with this file (quoting dockerd's own messages)."""

    def runtime(self, name: str) -> RuntimeEntry | None:
        """The runtime entry called ``name``, or None."""
        return next((r for r in self.runtimes if r.name == name), None)


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        # NOTE: Go's encoding/json silently keeps the last value; refusing is the only way to lose nothing.
        raise DaemonJsonError(f"duplicate key {dupes[0]!r} in one object")
    return dict(pairs)


def _hint(text: str, pos: int) -> str:
    """A human hint for the two mistakes JSON users make most: comments and trailing commas."""
    before = text[:pos].rstrip()
    here = text[pos : pos + 2]
    if here.startswith("//") or here.startswith("/*") or here.startswith("#"):
        return "; JSON does not allow comments"
    if before.endswith(",") and text[pos : pos + 1] in ("}", "]"):
        return "; JSON does not allow a trailing comma"
    return ""


def _finite(literal: str) -> float:
    value = float(literal)
    if value in (float("inf"), float("-inf")):
        # NOTE: Go's encoding/json (dockerd) refuses a number out of float64 range; Python would read inf
        # and write it back as `Infinity`, which is not JSON
        raise DaemonJsonError(f"the number {literal[:40]} is out of range for a 64-bit float")
    return value


def _no_constant(literal: str) -> Any:
    raise DaemonJsonError(f"{literal} is not a JSON value")


def load_json_object(text: str) -> dict[str, Any]:
    """Load daemon.json text into an ordered dict; ``DaemonJsonError`` with line/column if it won't parse."""
    try:
        data = json.loads(
            text, object_pairs_hook=_reject_duplicates, parse_float=_finite, parse_constant=_no_constant
        )
    except json.JSONDecodeError as exc:
        raise DaemonJsonError(exc.msg + _hint(text, exc.pos), exc.lineno, exc.colno) from None
    except RecursionError:
        raise DaemonJsonError("objects nested too deeply") from None
    except DaemonJsonError:
        raise
    except ValueError as exc:  # NOTE: int() limit on huge digit strings (Python ≥3.11) raises ValueError
        raise DaemonJsonError(str(exc)) from None
    if not isinstance(data, dict):
        raise DaemonJsonError(f"the top level is {_json_type(data)}, not an object")
    return data


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _runtime_entry(name: str, spec: Any, problems: list[str]) -> RuntimeEntry | None:
    if not isinstance(spec, dict):
        problems.append(f"runtimes.{name} is {_json_type(spec)}, not an object")
        return None
    path, rtype = spec.get("path"), spec.get("runtimeType")
    args_key = next((k for k in ("runtimeArgs", "args") if k in spec), None)
    raw_args = spec.get(args_key) if args_key else []
    args = tuple(str(a) for a in raw_args) if isinstance(raw_args, list) else ()
    if name in BUILTIN_RUNTIMES:
        problems.append(f"runtime name '{name}' is reserved")
    if not path and not rtype:
        problems.append(f"runtime {name}: either a runtimeType or a path must be configured")
    return RuntimeEntry(
        name=name,
        path=path if isinstance(path, str) else None,
        runtime_type=rtype if isinstance(rtype, str) else None,
        args_key=args_key,
        args=args,
    )


def parse_daemon_json(text: str) -> DaemonConfig:
    """Parse daemon.json text; ``DaemonJsonError`` when it is not a JSON object."""
    data = load_json_object(text)
    problems: list[str] = []
    raw_runtimes = data.get("runtimes", {})
    runtimes: list[RuntimeEntry] = []
    if isinstance(raw_runtimes, dict):
        for name, spec in raw_runtimes.items():
            entry = _runtime_entry(name, spec, problems)
            if entry is not None:
                runtimes.append(entry)
    else:
        problems.append(f"runtimes is {_json_type(raw_runtimes)}, not an object")
    default = data.get("default-runtime")
    if default is not None and not isinstance(default, str):
        problems.append(f"default-runtime is {_json_type(default)}, not a string")
        default = None
    if default and default not in BUILTIN_RUNTIMES and default not in {r.name for r in runtimes}:
        problems.append(f"specified default runtime '{default}' does not exist")
    features = data.get("features")
    cdi = features.get("cdi") if isinstance(features, dict) else None
    dirs = data.get("cdi-spec-dirs")
    if dirs is not None and not (isinstance(dirs, list) and all(isinstance(d, str) for d in dirs)):
        # NOTE: dockerd unmarshals it into []string and refuses to start with anything else
        problems.append(f"cdi-spec-dirs is {_json_type(dirs)}, not an array of strings")
        dirs = None
    if features is not None and not isinstance(features, dict):
        problems.append(f"features is {_json_type(features)}, not an object")
    return DaemonConfig(
        data=data,
        runtimes=tuple(runtimes),
        default_runtime=default or None,
        cdi_enabled=cdi if isinstance(cdi, bool) else None,
        cdi_spec_dirs=tuple(str(d) for d in dirs) if isinstance(dirs, list) else None,
        problems=tuple(problems),
    )


@dataclass(frozen=True, slots=True)
class ConfigFile:
    """One daemon.json as found on the host."""

    path: str
    role: str
    """``system`` (/etc/docker/daemon.json) or ``rootless`` (~/.config/docker/daemon.json)."""
    exists: bool
    read_error: str | None
    """Why an existing file could not be read (permission denied ...)."""
    config: DaemonConfig | None
    """The parsed file; None when missing, unreadable or unparseable."""
    parse_error: DaemonJsonError | None


@dataclass(frozen=True, slots=True)
class DockerConfigFacts:
    """Every daemon.json gpucheck looked at, and where the runtimes they name resolve."""

    files: tuple[ConfigFile, ...]
    runtime_executables: dict[str, str | None]
    """Runtime ``path`` value → resolved host path (None: not found on dockerd's PATH / not executable)."""
    search_path: tuple[str, ...]

    def file(self, role: str) -> ConfigFile | None:
        """The file with this role, or None when it was not looked at."""
        return next((f for f in self.files if f.role == role), None)


def _config_file(evidence: Evidence, path: str, role: str) -> ConfigFile:
    read = evidence.file(path)
    if read is None or not read.exists:
        return ConfigFile(path, role, False, None, None, None)
    if read.content is None:
        return ConfigFile(path, role, True, read.error or "unreadable", None, None)
    try:
        return ConfigFile(path, role, True, None, parse_daemon_json(read.content), None)
    except DaemonJsonError as exc:
        return ConfigFile(path, role, True, None, None, exc)


def docker_config_facts(evidence: Evidence) -> DockerConfigFacts:
    """Build ``DockerConfigFacts`` from the ``docker_config`` collector's evidence."""
    meta = evidence.value("docker_config_paths")
    data: dict[str, Any] = meta.data if meta is not None and isinstance(meta.data, dict) else {}
    files = [_config_file(evidence, str(data.get("system") or "/etc/docker/daemon.json"), "system")]
    if data.get("rootless"):
        files.append(_config_file(evidence, str(data["rootless"]), "rootless"))
    return DockerConfigFacts(
        files=tuple(files),
        runtime_executables=dict(data.get("runtime_executables") or {}),
        search_path=tuple(data.get("search_path") or ()),
    )
