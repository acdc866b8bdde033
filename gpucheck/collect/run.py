"""Run one external command with a timeout and record it verbatim; never raises.

Command line equivalent: whatever ``argv`` says. The argv is always a list, never a shell string, so user
input (a path given with ``--python``, an image name) cannot be interpreted by a shell.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence

from gpucheck.collect.evidence import CommandRun

MAX_OUTPUT_CHARS = 2_000_000
"""Output beyond this many characters per stream is cut (a runaway process must not exhaust memory)."""


def _decode(data: bytes | None) -> str:
    text = (data or b"").decode("utf-8", errors="replace")
    if len(text) > MAX_OUTPUT_CHARS:
        text = text[:MAX_OUTPUT_CHARS] + "\n[gpucheck: output truncated]"
    return text


def run_command(
    argv: Sequence[str],
    *,
    timeout_s: float,
    env: Mapping[str, str] | None = None,
    stdin_text: str | None = None,
    cwd: str | None = None,
) -> CommandRun:
    """Run ``argv`` and return what happened.

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
    resolved = shutil.which(argv[0], path=environ.get("PATH", os.defpath))
    if resolved is None:
        if os.sep in argv[0] and os.path.exists(argv[0]):
            return CommandRun(argv=argv, error=f"{argv[0]} is not executable (permission denied)")
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
    try:
        out, err = proc.communicate(
            input=stdin_text.encode() if stdin_text is not None else None, timeout=timeout_s
        )
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        try:
            out, err = proc.communicate(timeout=2)
        except subprocess.TimeoutExpired:  # NOTE: a grandchild kept the pipes open; give up on its output
            out, err = b"", b""
        return CommandRun(
            argv=argv,
            stdout=_decode(out),
            stderr=_decode(err),
            duration_s=time.perf_counter() - t0,
            timed_out=True,
            resolved=resolved,
        )
    return CommandRun(
        argv=argv,
        returncode=proc.returncode,
        stdout=_decode(out),
        stderr=_decode(err),
        duration_s=time.perf_counter() - t0,
        resolved=resolved,
    )


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
