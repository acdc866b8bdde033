"""Running the real CLI against hostile programs and files, and checking what it leaves behind.

Every fake program written here first appends its own pid to a log file: each probe runs as the leader of its
own process group, so those pids are the process groups gpucheck created. ``leftovers`` lists the live
processes still in any of them after gpucheck exited (the grandchildren a probe left behind included).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import base_env

DEADLINE_MARGIN_S = 45.0
"""Slack allowed over a run's deadline: interpreter start-up and import on a loaded 2-core CI machine. A
bound that only a hang or a wait for the full probe timeout exceeds, not a benchmark."""

TRACEBACK = "Traceback (most recent call last)"


@dataclass
class Run:
    """One finished gpucheck process."""

    argv: list[str]
    exit_code: int
    stdout: str
    stderr: str
    wall_s: float

    def assert_clean(self, *codes: int) -> None:
        """No traceback anywhere, an exit code among ``codes``, and a usage error is one line."""
        assert TRACEBACK not in self.stdout + self.stderr, self.stderr[-2000:]
        assert self.exit_code in codes, f"exit {self.exit_code}, wanted {codes}: {self.stderr[-1500:]}"
        assert "internal error" not in self.stderr, self.stderr
        if self.exit_code == 2:
            lines = [line for line in self.stderr.splitlines() if line.strip()]
            assert len(lines) == 1 and lines[0].startswith(("gpucheck", "error:")), self.stderr


class ProbeLog:
    """The file fake programs append their pid to (one line per start)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.write_text("")

    @property
    def prologue(self) -> str:
        """Shell lines that record the running script's pid (= its process group)."""
        return f'echo $$ >> "{self.path}"'

    def groups(self) -> set[int]:
        return {int(line) for line in self.path.read_text().split() if line.strip().isdigit()}


def process_groups() -> dict[int, int]:
    """pid → process group id of every live (non-zombie) process."""
    found: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # NOTE: the command name may contain spaces
        if fields[0] not in ("Z", "X"):
            found[int(entry)] = int(fields[2])
    return found


def leftovers(groups: set[int], *, settle_s: float = 5.0) -> list[int]:
    """Pids still alive in any of ``groups`` once SIGKILLs have had ``settle_s`` to land."""
    stop = time.monotonic() + settle_s
    while True:
        alive = [pid for pid, pgid in process_groups().items() if pgid in groups]
        if not alive or time.monotonic() > stop:
            return alive
        time.sleep(0.05)


def run_cli(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 300, stdin: str | None = None
) -> Run:
    """Run ``python -m gpucheck ARGS`` as a real process and time it."""
    argv = [sys.executable, "-m", "gpucheck", *args]
    t0 = time.monotonic()
    proc = subprocess.run(
        argv, capture_output=True, text=True, env=dict(env) if env is not None else None, timeout=timeout,
        input=stdin, errors="replace",
    )  # fmt: skip
    return Run(argv, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - t0)


def fault_env(bin_dir: Path, **extra: str) -> dict[str, str]:
    """An isolated environment with ``bin_dir`` first on PATH and no Docker engine to talk to."""
    env = base_env(**extra)
    env["PATH"] = f"{bin_dir}:/usr/bin:/bin"
    env.setdefault("DOCKER_HOST", f"unix://{bin_dir}/no-docker.sock")
    return env


def write_program(bin_dir: Path, name: str, body: str, log: ProbeLog, *, mode: int = 0o755) -> Path:
    """A fake ``name`` in ``bin_dir``: records its pid, then runs ``body`` (POSIX sh)."""
    exe = bin_dir / name
    exe.write_text(f"#!/bin/sh\n{log.prologue}\n{body}\n")
    exe.chmod(mode)
    return exe


def start_cli(*args: str, env: Mapping[str, str]) -> subprocess.Popen[str]:
    """Start ``python -m gpucheck ARGS`` without waiting (for signal tests)."""
    return subprocess.Popen(
        [sys.executable, "-m", "gpucheck", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(env),
        errors="replace",
    )


def wait_for(predicate: object, *, timeout_s: float = 120.0) -> bool:
    """Poll ``predicate()`` until it is true or ``timeout_s`` passes."""
    stop = time.monotonic() + timeout_s
    while time.monotonic() < stop:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def command_durations(snapshot: dict, program: str) -> list[float]:
    """``duration_s`` of every command in a snapshot whose argv[0] is ``program``."""
    return [
        item.get("duration_s", 0.0)
        for item in snapshot["evidence"]
        if item.get("kind") == "command" and Path(item["argv"][0]).name == program
    ]


def without_root_powers(argv: Sequence[str]) -> list[str] | None:
    """``argv`` run with every capability dropped (root then gets EACCES), or None without setpriv."""
    if os.geteuid() != 0:
        return list(argv)
    from shutil import which

    if which("setpriv") is None:
        return None
    return ["setpriv", "--inh-caps=-all", "--bounding-set=-all", *argv]
