"""Register the NVIDIA runtime in Docker's daemon.json, safely: plan → diff, then one apply function.

Command line equivalent: ``sudo nvidia-ctk runtime configure --runtime=docker [--set-as-default]
[--cdi.enabled]`` (NVIDIA/nvidia-container-toolkit ``pkg/config/engine/docker``), with these differences:
only the keys it must change are touched and every other key keeps its value and place (nvidia-ctk sorts
them); an entry already there is left alone (idempotent); a file that does not parse, has duplicate keys or
is not a JSON object is refused; the original is backed up and the new file written atomically with the
original's permissions and owner. Planning is pure; ``apply_plan`` is the only function that writes.

Concurrent runs cannot lose an edit: ``edit_lock`` takes an exclusive ``flock`` on the file's directory,
the command reads, plans and writes under it, and ``apply_plan`` compares the file with what was planned
just before the rename (a writer that does not take the lock, an editor, is caught there and refused).
The new file and the backup are written as unnamed ``O_TMPFILE`` files and linked into place only when
complete, so ``kill -9`` at any point leaves the old file or the new one and no temporary file; a
temporary file from a filesystem without ``O_TMPFILE`` that a killed run left behind is removed by the
next run, under the lock.
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import fcntl
import json
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gpucheck.collect.sysroot import read_regular
from gpucheck.diagnose.parse.daemon_json import DaemonJsonError, load_json_object

DEFAULT_CONFIG = "/etc/docker/daemon.json"
ROOTLESS_CONFIG = "~/.config/docker/daemon.json"
DEFAULT_RUNTIME_PATH = "nvidia-container-runtime"
NEW_FILE_MODE = 0o644
MAX_CONFIG_BYTES = 1024 * 1024
"""A daemon.json larger than this is refused (dockerd's own files are a few hundred bytes)."""
LOCK_TIMEOUT_S = 30.0
"""How long ``--apply`` waits for another run holding the lock before refusing."""
TEMP_SUFFIX = ".gpucheck-tmp"


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
    _refuse_lone_surrogates(data, "")
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


def _refuse_lone_surrogates(node: Any, where: str) -> None:
    """Refuse text that cannot be written back as UTF-8 (a lone UTF-16 surrogate escape)."""
    stack = [(node, where)]
    while stack:
        value, at = stack.pop()
        if isinstance(value, dict):
            stack.extend((v, f"{at}.{k}" if at else str(k)) for k, v in value.items())
            stack.extend((k, at or "the top level") for k in value)
        elif isinstance(value, list):
            stack.extend((v, f"{at}[{i}]") for i, v in enumerate(value))
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise DaemonJsonError(
                    f"{at or 'a string'} contains a lone UTF-16 surrogate escape (\\ud800-\\udfff without "
                    "its pair), which is not valid Unicode and cannot be written back"
                ) from None


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


def apply_plan(plan: RuntimePlan, *, now: datetime | None = None, lock_held: bool = False) -> ApplyResult:
    """Back up the original, then atomically replace it with ``plan.updated``, under ``edit_lock``.

    ``lock_held``: the caller already holds ``edit_lock`` (it read and planned under it). Raises ``OSError``
    (permission denied, disk full ...) or ``RefusedError`` (the file changed since it was planned, or
    another run holds the lock). On any failure the original stays as it was and no temporary file is left.
    """
    target = os.path.realpath(plan.path)  # NOTE: write through a symlink, never replace the link itself
    if not lock_held:
        with edit_lock(plan.path):
            return apply_plan(plan, now=now, lock_held=True)
    if read_config(target) != plan.original:
        raise RefusedError(f"{plan.path} changed since it was read; run the command again")
    backup = None
    if plan.original is not None:
        backup = backup_path(target, now or datetime.now())
        info = os.stat(target)
        _write_new(backup, plan.original, mode=stat.S_IMODE(info.st_mode), owner=(info.st_uid, info.st_gid))
        os.utime(backup, ns=(info.st_atime_ns, info.st_mtime_ns))
    else:
        os.makedirs(os.path.dirname(target) or ".", mode=0o755, exist_ok=True)
    if read_config(target) != plan.original:  # NOTE: the compare of compare-and-swap, as late as possible
        if backup is not None:
            os.unlink(backup)
        raise RefusedError(f"{plan.path} changed since it was read; run the command again")
    _atomic_write(target, plan.updated, like=target if plan.original is not None else None)
    return ApplyResult(path=target, backup=backup, created=plan.original is None)


@contextlib.contextmanager
def edit_lock(path: str, *, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the directory of ``path`` (created if missing) while editing it.

    Every ``setup docker --apply`` takes it before reading, so two runs at once edit one after the other.
    Leftover temporary files of a killed run are removed once it is held. Raises ``RefusedError`` when
    another run keeps it longer than ``timeout_s``, ``OSError`` when the directory cannot be opened.
    """
    target = os.path.realpath(path)
    directory = os.path.dirname(target) or "."
    os.makedirs(directory, mode=0o755, exist_ok=True)
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    try:
        waited_until = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= waited_until:
                    raise RefusedError(
                        f"another `gpucheck setup docker --apply` has been editing {path} for over "
                        f"{timeout_s:g} s; try again when it has finished"
                    ) from None
                time.sleep(0.05)
        _remove_stale_temp_files(target)
        yield
    finally:
        os.close(fd)  # NOTE: closing the descriptor releases the lock


def _remove_stale_temp_files(target: str) -> None:
    """Remove ``.<name>.*.gpucheck-tmp`` files: with the lock held, no live run is writing one."""
    directory, name = os.path.split(target)
    with contextlib.suppress(OSError):
        for entry in os.listdir(directory or "."):
            if entry.startswith(f".{name}.") and entry.endswith(TEMP_SUFFIX):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(directory, entry))


def read_config(path: str) -> str | None:
    """The file's text, or None when it does not exist.

    Raises ``OSError`` (also for a FIFO, a device or a file over ``MAX_CONFIG_BYTES``: only regular files
    are read) or ``UnicodeDecodeError``.
    """
    try:
        data, _ = read_regular(path, limit=MAX_CONFIG_BYTES)
    except FileNotFoundError:
        return None
    return data.decode("utf-8")


def _atomic_write(path: str, text: str, *, like: str | None) -> None:
    """Write a complete file with ``like``'s mode and owner beside ``path``, fsync it, then rename over."""
    directory = os.path.dirname(path) or "."
    if like is not None:
        info = os.stat(like)
        mode, owner = stat.S_IMODE(info.st_mode), (info.st_uid, info.st_gid)
    else:
        mode, owner = NEW_FILE_MODE, (os.geteuid(), os.getegid())
    tmp = _temp_name(path)
    _write_new(tmp, text, mode=mode, owner=owner)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def _temp_name(path: str) -> str:
    directory, name = os.path.split(path)
    return os.path.join(directory or ".", f".{name}.{os.getpid()}-{time.monotonic_ns()}{TEMP_SUFFIX}")


def _write_new(path: str, text: str, *, mode: int, owner: tuple[int, int]) -> None:
    """Create ``path`` (which must not exist) holding exactly ``text``; it never exists half-written.

    The content goes into an unnamed ``O_TMPFILE`` in the same directory, which is fsynced, given its mode
    and owner, and only then linked to ``path``; a process killed before the link leaves nothing behind.
    Filesystems without ``O_TMPFILE`` get a named temporary file instead (removed on any error).
    """
    directory = os.path.dirname(path) or "."
    data = text.encode("utf-8")
    try:
        fd = os.open(directory, os.O_TMPFILE | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0), 0o600)
    except (AttributeError, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
            raise
        _write_named(path, data, mode=mode, owner=owner)
        return
    try:
        _fill(fd, data, mode=mode, owner=owner)
        # NOTE: linkat(AT_SYMLINK_FOLLOW) on the /proc link names the open file; os.link only calls linkat
        # (rather than link, which would hard-link the magic symlink itself) when a dir_fd is given
        os.link(f"/proc/self/fd/{fd}", path, src_dir_fd=fd, follow_symlinks=True)
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.EXDEV):  # NOTE: no /proc mounted here
            raise
        _write_named(path, data, mode=mode, owner=owner)
    finally:
        os.close(fd)


def _write_named(path: str, data: bytes, *, mode: int, owner: tuple[int, int]) -> None:
    directory, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=TEMP_SUFFIX, dir=directory or ".")
    try:
        try:
            _fill(fd, data, mode=mode, owner=owner)
        finally:
            os.close(fd)
        os.link(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _fill(fd: int, data: bytes, *, mode: int, owner: tuple[int, int]) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.fsync(fd)
    os.fchmod(fd, mode)
    if owner != (os.geteuid(), os.getegid()):
        os.fchown(fd, *owner)


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
    "edit_lock",
    "plan_runtime_config",
    "read_config",
    "unified_diff",
]
