"""Run one external command in its own process group with a timeout and record it verbatim; never raises.

Command line equivalent: whatever ``argv`` says. The argv is always a list, never a shell string, so user
input (a path given with ``--python``, an image name) cannot be interpreted by a shell.

Every command gpucheck runs goes through ``run_command``, which owns the child's whole process group:

- the group is killed (SIGKILL) at the timeout, when the command is done (so a grandchild it left behind,
  perhaps still holding the output pipe open, does not outlive it), on SIGTERM/SIGHUP/SIGINT to gpucheck
  (``install_signal_handlers``: exit 128+N) and at interpreter exit (``atexit``), so no probe is ever left
  running;
- once the child itself has exited, the pipes are read for at most ``PIPE_GRACE_S`` more: a grandchild
  holding them open does not make gpucheck wait for the full timeout;
- the child is not reaped until its group has been killed (``waitid`` with ``WNOWAIT``), so the group id
  cannot have been reused by an unrelated process when ``killpg`` runs.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import selectors
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence

from gpucheck.collect.evidence import CommandRun

MAX_OUTPUT_CHARS = 2_000_000
"""Output beyond this many characters per stream is cut (a runaway process must not exhaust memory)."""

MAX_OUTPUT_BYTES = 4 * MAX_OUTPUT_CHARS
"""Bytes kept per stream before decoding; the rest is read and dropped so the child never blocks on a pipe."""

PIPE_GRACE_S = 0.5
"""How long the pipes are still read after the child exited (a grandchild may hold them open)."""

REAP_WAIT_S = 0.5
"""How long to wait for a SIGKILLed child to disappear before leaving it behind."""

PIPE_HELD_NOTE = "\n[gpucheck: a process the command started kept its output open; it was stopped]"
TRUNCATED_NOTE = "\n[gpucheck: output truncated]"

_LIVE_GROUPS: set[int] = set()
"""Process group ids of the commands running now (each child leads its own group)."""
_LIVE_LOCK = threading.Lock()
_HANDLED_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
_installed = False


def _decode(data: bytes | None, *, truncated: bool = False) -> str:
    text = (data or b"").decode("utf-8", errors="replace")
    if len(text) > MAX_OUTPUT_CHARS or truncated:
        text = text[:MAX_OUTPUT_CHARS] + TRUNCATED_NOTE
    return text


def kill_all_groups() -> int:
    """SIGKILL the process group of every command still running; returns how many groups were signalled.

    Safe to call from a signal handler or at exit: it only takes a lock held for set updates.
    """
    with _LIVE_LOCK:
        groups = list(_LIVE_GROUPS)
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    return len(groups)


def live_groups() -> frozenset[int]:
    """The process groups of the commands running now (for tests and diagnostics)."""
    with _LIVE_LOCK:
        return frozenset(_LIVE_GROUPS)


def _on_signal(signum: int, _frame: object) -> None:
    kill_all_groups()
    name = signal.Signals(signum).name
    with contextlib.suppress(OSError, ValueError):
        os.write(2, f"gpucheck: stopped by {name}; every probe it started was stopped too\n".encode())
    # NOTE: SystemExit unwinds the main thread past click (which would turn a KeyboardInterrupt into
    # "Aborted!" and exit 1) to the documented 128+N status; atexit then runs kill_all_groups once more.
    raise SystemExit(128 + signum)


def install_signal_handlers() -> bool:
    """On SIGTERM, SIGHUP and SIGINT kill every probe's process group, say so, and exit 128+N.

    Only signals still at their default disposition (Python's KeyboardInterrupt for SIGINT) are taken
    over, so an embedding program keeps its own handlers. Idempotent; returns True once installed (only
    the main thread can install handlers).
    """
    global _installed
    if _installed:
        return True
    if threading.current_thread() is not threading.main_thread():
        return False
    for sig in _HANDLED_SIGNALS:
        if signal.getsignal(sig) in (signal.SIG_DFL, signal.default_int_handler, None):
            signal.signal(sig, _on_signal)
    _installed = True
    return True


atexit.register(kill_all_groups)


def run_command(
    argv: Sequence[str],
    *,
    timeout_s: float,
    env: Mapping[str, str] | None = None,
    stdin_text: str | None = None,
    cwd: str | None = None,
) -> CommandRun:
    """Run ``argv`` in a new process group and return what happened.

    Args:
        argv: The program and its arguments. ``argv[0]`` is looked up on ``env["PATH"]`` unless it is a path.
        timeout_s: The process group is killed when it runs longer than this.
        env: The environment for the child (defaults to ``os.environ``); also supplies the PATH searched.
        stdin_text: Text fed to the child's standard input (the child gets /dev/null otherwise).
        cwd: Working directory for the child.

    Returns:
        A ``CommandRun``; missing executables, permission errors and timeouts are fields, not exceptions.
    """
    argv = tuple(str(a) for a in argv)
    environ = dict(os.environ if env is None else env)
    if not argv:
        return CommandRun(argv=argv, error="empty command line")
    resolved, unusable = _resolve(argv[0], environ.get("PATH", os.defpath))
    if unusable is not None:
        return CommandRun(argv=argv, error=unusable, resolved=resolved)
    if resolved is None:
        return CommandRun(argv=argv, not_found=True)
    t0 = time.perf_counter()
    try:
        proc = subprocess.Popen(  # noqa: S603 - argv list, no shell
            [resolved, *argv[1:]],
            stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environ,
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:
        return CommandRun(argv=argv, error=f"{type(exc).__name__}: {exc.strerror or exc}", resolved=resolved)
    with _LIVE_LOCK:
        _LIVE_GROUPS.add(proc.pid)
    try:
        out, err, status = _communicate(proc, stdin_text, deadline=t0 + max(0.0, timeout_s))
    finally:
        _kill_group(proc.pid)
        with _LIVE_LOCK:
            _LIVE_GROUPS.discard(proc.pid)
        returncode = _reap(proc)
    timed_out = status == "timeout"
    stderr = _decode(err.data, truncated=err.truncated)
    if status == "held":
        stderr += PIPE_HELD_NOTE
    return CommandRun(
        argv=argv,
        returncode=None if timed_out else returncode,
        stdout=_decode(out.data, truncated=out.truncated),
        stderr=stderr,
        duration_s=time.perf_counter() - t0,
        timed_out=timed_out,
        resolved=resolved,
    )


def _resolve(name: str, path: str) -> tuple[str | None, str | None]:
    """``(executable, None)``; ``(path, why)`` when the file exists but cannot be run; ``(None, None)``."""
    found = shutil.which(name, path=path)
    if found is not None:
        return found, None
    candidates = [name] if os.sep in name else [os.path.join(d or ".", name) for d in path.split(os.pathsep)]
    for candidate in candidates:
        if os.path.isdir(candidate) and os.sep in name:
            return candidate, f"{name} is a directory, not an executable"
        if os.path.isfile(candidate):
            return candidate, f"{candidate} exists but is not executable (permission denied)"
    return None, None


def _reap(proc: subprocess.Popen[bytes]) -> int | None:
    """The exit status once the killed child is gone; None when even SIGKILL cannot end it in time.

    A process in uninterruptible sleep on a wedged driver is left behind rather than waited for.
    """
    try:
        return proc.wait(timeout=REAP_WAIT_S)
    except subprocess.TimeoutExpired:
        return None


class _Stream:
    __slots__ = ("data", "truncated")

    def __init__(self) -> None:
        self.data = bytearray()
        self.truncated = False

    def feed(self, chunk: bytes) -> None:
        room = MAX_OUTPUT_BYTES - len(self.data)
        if room > 0:
            self.data += chunk[:room]
        if len(chunk) > max(room, 0):
            self.truncated = True


def _exited(pid: int) -> bool:
    """Whether the child has exited, without reaping it (its pid, the group id, stays reserved)."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def _feed_stdin(proc: subprocess.Popen[bytes], data: bytes) -> None:
    assert proc.stdin is not None
    with contextlib.suppress(OSError):
        proc.stdin.write(data)
    with contextlib.suppress(OSError):
        proc.stdin.close()


def _communicate(
    proc: subprocess.Popen[bytes], stdin_text: str | None, *, deadline: float
) -> tuple[_Stream, _Stream, str]:
    """Read both pipes until EOF, the deadline, or ``PIPE_GRACE_S`` after the child exited.

    Returns the two streams and ``"done"``, ``"timeout"`` (the child was still running at the deadline) or
    ``"held"`` (the child exited but something it started kept a pipe open).
    """
    if stdin_text is not None:
        threading.Thread(target=_feed_stdin, args=(proc, stdin_text.encode()), daemon=True).start()
    streams = {proc.stdout: _Stream(), proc.stderr: _Stream()}
    out, err = streams[proc.stdout], streams[proc.stderr]
    exited_at: float | None = None
    with selectors.DefaultSelector() as selector:
        for pipe in streams:
            assert pipe is not None
            os.set_blocking(pipe.fileno(), False)
            selector.register(pipe, selectors.EVENT_READ)
        while selector.get_map():
            now = time.perf_counter()
            if exited_at is None and _exited(proc.pid):
                exited_at = now
            limit = deadline if exited_at is None else min(deadline, exited_at + PIPE_GRACE_S)
            if now >= limit:
                break
            for key, _ in selector.select(timeout=min(limit - now, 0.05)):
                try:
                    chunk = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                if chunk:
                    streams[key.fileobj].feed(chunk)  # type: ignore[index]
                else:
                    selector.unregister(key.fileobj)
        still_open = bool(selector.get_map())
    for pipe in streams:
        with contextlib.suppress(OSError):
            pipe.close()  # type: ignore[union-attr]
    if not still_open:
        while not _exited(proc.pid) and time.perf_counter() < deadline:
            time.sleep(0.01)  # NOTE: both pipes closed, child not gone yet: wait for it, to the deadline
        return out, err, "done" if _exited(proc.pid) else "timeout"
    return out, err, "held" if _exited(proc.pid) else "timeout"


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
