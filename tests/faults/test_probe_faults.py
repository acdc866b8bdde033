"""Every external program gpucheck runs × every way a program misbehaves, through the real CLI.

Each case asserts what issue 13 asks of all of them: a documented exit code with a JSON report (findings,
never a traceback), a run that ends within its ``--timeout`` plus a start-up margin, and no process left in
any process group a probe started — grandchildren that kept the output pipe open included.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import findings_by_check
from tests.faults.harness import (
    DEADLINE_MARGIN_S,
    ProbeLog,
    command_durations,
    fault_env,
    leftovers,
    run_cli,
    write_program,
)

TIMEOUT_S = 8


@dataclass(frozen=True)
class Fault:
    name: str
    body: str
    mode: int = 0o755
    runs: bool = True
    """Whether the program starts at all (a non-executable file does not)."""


FAULTS = (
    Fault("hang", "exec sleep 600"),
    Fault("hang-ignoring-signals", "trap '' TERM INT HUP\nsleep 600\nsleep 600"),
    Fault("killed-by-signal", "kill -SEGV $$"),
    Fault(
        "garbage",
        "printf '[/bold] [red]x\\033[2J\\033]0;pwned\\007 {\"import\": 5}\\n|,,,\\n'; "
        "printf 'NVIDIA-SMI has failed [/]\\n' >&2",
    ),
    Fault("non-utf8", "printf '\\377\\376\\200 NVIDIA-SMI \\351\\n'; printf '\\377\\n' >&2"),
    Fault("huge-output", "head -c 30000000 /dev/zero | tr '\\000' a"),
    Fault("silent-nonzero-exit", "exit 7"),
    Fault("permission-denied", "echo never runs", mode=0o644, runs=False),
    Fault("pipe-held-open", "(sleep 600 &)\necho partial output"),
)


@dataclass(frozen=True)
class Program:
    name: str
    only: str
    sysroot: bool = True
    as_python: bool = False
    """Given with ``--python`` (the framework workers' interpreter) instead of found on PATH."""


PROGRAMS = (
    Program("nvidia-smi", "driver,gpu"),
    Program("nvidia-container-cli", "container"),
    Program("docker", "container"),
    Program("python", "framework", as_python=True),
    Program("nvcc", "toolkit", sysroot=False),
)


def _doctor(program: Program, exe: Path, root: Path) -> list[str]:
    args = ["doctor", "--json", "--only", program.only, "--timeout", str(TIMEOUT_S)]
    if program.sysroot:
        args += ["--sysroot", str(root)]
    if program.as_python:
        args += ["--python", str(exe)]
    return args


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.name)
def test_program_fault_is_a_finding_within_the_deadline_and_leaves_nothing(
    program: Program, fault: Fault, tmp_path: Path
) -> None:
    bin_dir, root = tmp_path / "bin", tmp_path / "root"
    bin_dir.mkdir()
    root.mkdir()
    log = ProbeLog(tmp_path / "pids")
    exe = write_program(bin_dir, program.name, fault.body, log, mode=fault.mode)
    run = run_cli(*_doctor(program, exe, root), env=fault_env(bin_dir))
    run.assert_clean(0, 1)
    report = json.loads(run.stdout)
    assert report["exit_code"] == run.exit_code
    assert run.wall_s < TIMEOUT_S + DEADLINE_MARGIN_S, f"took {run.wall_s:.1f} s"
    groups = log.groups()
    if fault.runs:
        assert groups, f"{program.name} was never started"
    assert leftovers(groups) == [], f"processes left in the probes' groups {sorted(groups)}"


NVIDIA_SMI_VERDICT = {
    "hang": ("error", "did not finish"),
    "hang-ignoring-signals": ("error", "did not finish"),
    "killed-by-signal": ("warn", "signal 11"),
    "silent-nonzero-exit": ("warn", "status 7"),
    "permission-denied": ("error", "not executable"),
}
"""What ``driver.nvidia_smi`` says about each fault (an unrecognised failure is a warning)."""


@pytest.mark.parametrize("fault", [f for f in FAULTS if f.name in NVIDIA_SMI_VERDICT], ids=lambda f: f.name)
def test_nvidia_smi_faults_name_what_happened(fault: Fault, tmp_path: Path) -> None:
    bin_dir, root = tmp_path / "bin", tmp_path / "root"
    bin_dir.mkdir()
    root.mkdir()
    (root / "proc/driver/nvidia").mkdir(parents=True)
    (root / "proc/driver/nvidia/version").write_text(
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.144.03  Mon Dec 30 17:44:08 UTC 2024\n"
    )
    log = ProbeLog(tmp_path / "pids")
    write_program(bin_dir, "nvidia-smi", fault.body, log, mode=fault.mode)
    run = run_cli(
        "doctor", "--json", "--only", "driver", "--sysroot", str(root), "--timeout", str(TIMEOUT_S),
        env=fault_env(bin_dir),
    )  # fmt: skip
    run.assert_clean(0, 1)
    status, needle = NVIDIA_SMI_VERDICT[fault.name]
    finding = findings_by_check(json.loads(run.stdout))["driver.nvidia_smi"][0]
    assert finding["status"] == status, finding
    assert needle in finding["summary"] + " " + finding["remediation"], finding
    assert "not installed" not in finding["summary"]


@pytest.mark.parametrize("program", ["nvidia-smi", "python"])
def test_a_grandchild_holding_the_pipe_open_costs_seconds_not_the_timeout(
    program: str, tmp_path: Path
) -> None:
    """The probe exits at once but leaves a ``sleep`` holding stdout: gpucheck must not wait for it."""
    bin_dir, root = tmp_path / "bin", tmp_path / "root"
    bin_dir.mkdir()
    root.mkdir()
    log = ProbeLog(tmp_path / "pids")
    exe = write_program(bin_dir, program, "(sleep 600 &)\necho partial output", log)
    out = tmp_path / "snap.json"
    args = ["snapshot", "-o", str(out), "--timeout", "60", "--sysroot", str(root)]
    args += ["--python", str(exe), "--only", "framework"] if program == "python" else ["--only", "driver"]
    run = run_cli(*args, env=fault_env(bin_dir))
    run.assert_clean(0)
    durations = command_durations(json.loads(out.read_text()), program)
    assert durations and max(durations) < 20, durations  # NOTE: the timeout is 60 s; the grace is 0.5 s
    assert leftovers(log.groups()) == []
