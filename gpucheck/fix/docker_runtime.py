"""Register the NVIDIA runtime in Docker's daemon.json, safely: plan → diff, then one apply function.

Command line equivalent: ``sudo nvidia-ctk runtime configure --runtime=docker [--set-as-default]
[--cdi.enabled]`` (NVIDIA/nvidia-container-toolkit ``pkg/config/engine/docker``), with these differences:
only the keys it must change are touched and every other key keeps its value and place (nvidia-ctk sorts
them); an entry already there is left alone (idempotent); a file that does not parse, has duplicate keys or
is not a JSON object is refused; the original is backed up and the new file written atomically with the
original's permissions and owner. Planning is pure; ``apply_plan`` is the only function that writes.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import stat
import tempfile
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gpucheck.diagnose.parse.daemon_json import DaemonJsonError, load_json_object

DEFAULT_CONFIG = "/etc/docker/daemon.json"
ROOTLESS_CONFIG = "~/.config/docker/daemon.json"
DEFAULT_RUNTIME_PATH = "nvidia-container-runtime"
NEW_FILE_MODE = 0o644


class RefusedError(ValueError):
    """The file cannot be changed safely; the message says why and what to fix by hand."""


@dataclass(frozen=True, slots=True)
class RuntimePlan:
    """What ``setup docker`` would change in one daemon.json."""

    path: str
    original: str | None
    """The file's text, or None when it does not exist (it will be created)."""
    updated: str
    """The text it would write (equal to ``original`` when nothing changes)."""
    changes: tuple[str, ...]
    """One line per change, e.g. ``add runtimes.nvidia``; empty when there is nothing to do."""

    @property
    def needed(self) -> bool:
        """Whether anything would change."""
        return bool(self.changes)


def _indent(text: str) -> int | str:
    """The indentation the file already uses (first indented line), so a rewrite keeps its look."""
    match = re.search(r"\n([ \t]+)\S", text)
    if match is None:
        return 4  # NOTE: what nvidia-ctk writes (json.MarshalIndent with four spaces)
    unit = match.group(1)
    return unit if "\t" in unit else len(unit)


def _object(parent: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = parent.setdefault(key, {})
    if not isinstance(value, dict):
        raise RefusedError(f"{where} is not a JSON object; fix it by hand first")
    return value


def _ensure_runtime(runtimes: dict[str, Any], name: str, path: str | None) -> list[str]:
    """Add the runtime entry (nvidia-ctk's shape) or give an existing one the path asked for."""
    entry = runtimes.get(name)
    if entry is None:
        runtimes[name] = {"path": path or DEFAULT_RUNTIME_PATH, "args": []}
        return [f"add runtimes.{name} (path {path or DEFAULT_RUNTIME_PATH})"]
    if not isinstance(entry, dict):
        raise RefusedError(f"runtimes.{name} is not a JSON object; fix it by hand first")
    if not entry.get("path") or (path and entry.get("path") != path):
        new = path or DEFAULT_RUNTIME_PATH
        was = entry.get("path")
        entry["path"] = new
        return [f"set runtimes.{name}.path to {new} (was {was!r})"]
    return []


def plan_runtime_config(
    path: str,
    original: str | None,
    *,
    runtime_name: str = "nvidia",
    runtime_path: str | None = None,
    set_default: bool = False,
    enable_cdi: bool = False,
) -> RuntimePlan:
    """Plan the edit; raises ``DaemonJsonError`` (with line/column) or ``RefusedError`` for unsafe files.

    ``runtime_path`` None means "the default, but keep a path that is already set"; a given path replaces it.
    """
    data = load_json_object(original) if original is not None and original.strip() else {}
    changes: list[str] = []
    runtimes = _object(data, "runtimes", "runtimes")
    changes.extend(_ensure_runtime(runtimes, runtime_name, runtime_path))
    if set_default and data.get("default-runtime") != runtime_name:
        was = data.get("default-runtime")
        was_text = "not set" if was is None else repr(was)
        changes.append(f"set default-runtime to {runtime_name} (was {was_text})")
        data["default-runtime"] = runtime_name
    if enable_cdi:
        features = _object(data, "features", "features")
        if features.get("cdi") is not True:
            changes.append("set features.cdi to true")
            features["cdi"] = True
    if not changes:
        return RuntimePlan(path, original, original or "", ())
    indent = _indent(original or "")
    updated = json.dumps(data, indent=indent, ensure_ascii=False) + "\n"
    return RuntimePlan(path, original, updated, tuple(changes))


def unified_diff(plan: RuntimePlan) -> str:
    """The change as a unified diff (``--- path`` / ``+++ path``), empty when nothing changes."""
    before = (plan.original or "").splitlines(keepends=True)
    after = plan.updated.splitlines(keepends=True)
    source = plan.path if plan.original is not None else "/dev/null"
    lines = difflib.unified_diff(before, after, fromfile=source, tofile=plan.path)
    marker = "\n\\ No newline at end of file\n"
    return "".join(line if line.endswith("\n") else line + marker for line in lines)


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What ``apply_plan`` did."""

    path: str
    backup: str | None
    """The backup of the original, or None when the file was created."""
    created: bool


def backup_path(path: str, now: datetime) -> str:
    """``<path>.gpucheck-YYYYmmddTHHMMSS.bak``, with ``-N`` added if that name is taken."""
    base = f"{path}.gpucheck-{now:%Y%m%dT%H%M%S}"
    candidate, n = f"{base}.bak", 1
    while os.path.lexists(candidate):
        candidate, n = f"{base}-{n}.bak", n + 1
    return candidate


def apply_plan(plan: RuntimePlan, *, now: datetime | None = None) -> ApplyResult:
    """Back up the original, then atomically replace it with ``plan.updated``.

    Raises ``OSError`` (permission denied, disk full ...) or ``RefusedError`` (the file changed since it
    was planned). On any failure the original stays as it was and no temporary file is left behind.
    """
    target = os.path.realpath(plan.path)  # NOTE: write through a symlink, never replace the link itself
    current = read_config(target)
    if current != plan.original:
        raise RefusedError(f"{plan.path} changed since it was read; run the command again")
    backup = None
    if plan.original is not None:
        backup = backup_path(target, now or datetime.now())
        shutil.copy2(target, backup)  # NOTE: copy2 keeps mode and times; ownership is copied below
        _copy_owner(target, backup)
    else:
        os.makedirs(os.path.dirname(target) or ".", mode=0o755, exist_ok=True)
    _atomic_write(target, plan.updated, like=target if plan.original is not None else None)
    return ApplyResult(path=target, backup=backup, created=plan.original is None)


def read_config(path: str) -> str | None:
    """The file's text, or None when it does not exist; raises ``OSError`` / ``UnicodeDecodeError``."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def _copy_owner(source: str, dest: str) -> None:
    info = os.stat(source)
    if (info.st_uid, info.st_gid) != (os.geteuid(), os.getegid()):
        os.chown(dest, info.st_uid, info.st_gid)


def _atomic_write(path: str, text: str, *, like: str | None) -> None:
    """Write to a temp file in the same directory, fsync, give it ``like``'s mode/owner, then rename over."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".gpucheck-tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if like is not None:
            info = os.stat(like)
            os.chmod(tmp, stat.S_IMODE(info.st_mode))
            if (info.st_uid, info.st_gid) != (os.geteuid(), os.getegid()):
                os.chown(tmp, info.st_uid, info.st_gid)
        else:
            os.chmod(tmp, NEW_FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def _fsync_dir(directory: str) -> None:
    """Make the rename durable (a crash right after ``os.replace`` must not bring the old file back)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = [
    "DEFAULT_CONFIG",
    "DEFAULT_RUNTIME_PATH",
    "ROOTLESS_CONFIG",
    "ApplyResult",
    "DaemonJsonError",
    "RefusedError",
    "RuntimePlan",
    "apply_plan",
    "backup_path",
    "plan_runtime_config",
    "read_config",
    "unified_diff",
]
