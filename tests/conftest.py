"""Shared fixtures: fake executables on PATH, sysroot trees, and running the real CLI.

GPU-only evidence comes from verbatim recordings of real machines (``tests/fixtures/``, sourced from
shared/reference/doctor-anchors.md) fed through the same code paths as on a real machine: a fake
``nvidia-smi`` on PATH prints the recorded output with the recorded exit code, and ``--sysroot`` trees hold
recorded files.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import core as hypothesis_core
from typer.testing import CliRunner

pytest_plugins = ["tests.docker_engine"]  # the private Docker engine fixture for @pytest.mark.docker tests

FIXTURES = Path(__file__).parent / "fixtures"
SYSTEM_PATH = "/usr/bin:/bin"
"""The PATH tests start from: the OS, without /usr/local/bin (which holds this machine's real nvcc)."""


settings.register_profile(
    "ci", deadline=None, suppress_health_check=list(HealthCheck), print_blob=True, derandomize=False
)
"""CI machines are loaded: no per-example deadline and no wall-clock health check (``too_slow`` fired
there on input generation); a failure prints its ``@reproduce_failure`` blob, and the run prints its seed."""
IN_CI = os.environ.get("CI", "").lower() in ("true", "1")
if IN_CI:
    settings.load_profile("ci")


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("COLUMNS", "120")
    os.environ["NO_COLOR"] = "1"
    os.environ.pop("FORCE_COLOR", None)
    if IN_CI and config.getoption("hypothesis_seed", None) is None:
        # NOTE: the same hook the hypothesis plugin sets for --hypothesis-seed; set here so the seed is known.
        hypothesis_core.global_force_seed = int(os.environ.get("HYPOTHESIS_SEED") or random.randrange(2**32))


def pytest_report_header(config: pytest.Config) -> str | None:
    seed = hypothesis_core.global_force_seed
    if seed is None:
        return None
    return f"hypothesis seed: {seed} (rerun with HYPOTHESIS_SEED={seed} or --hypothesis-seed={seed})"


def has_nvidia_gpu() -> bool:
    """True when a real NVIDIA driver answers (nvidia-smi -L lists a GPU)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return False
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and "GPU " in out.stdout


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if any(item.get_closest_marker("gpu") for item in items) and not has_nvidia_gpu():
        skip = pytest.mark.skip(reason="needs an NVIDIA GPU: `nvidia-smi -L` lists none on this machine")
        for item in items:
            if item.get_closest_marker("gpu"):
                item.add_marker(skip)


@dataclass
class FakeBin:
    """A directory of fake executables that replay recorded output."""

    path: Path

    def add(
        self,
        name: str,
        stdout: str | bytes = "",
        *,
        stderr: str | bytes = "",
        exit_code: int = 0,
        sleep_s: float = 0.0,
        by_args: Mapping[str, tuple[str | bytes, str | bytes, int]] | None = None,
    ) -> Path:
        """Create ``name`` printing ``stdout``/``stderr`` and exiting with ``exit_code``.

        ``by_args`` maps a space-joined argument string to (stdout, stderr, exit_code) for that exact call;
        other calls get the defaults.
        """
        data = self.path / f".{name}.d"
        data.mkdir(exist_ok=True)
        # NOTE: specific argument strings first; the default `*)` case must come last in a shell `case`.
        cases = [*(by_args or {}).items(), ("*", (stdout, stderr, exit_code))]
        lines = ["#!/bin/sh", f"sleep {sleep_s}" if sleep_s else ":", 'case "$*" in']
        for i, (args, (out, err, code)) in enumerate(cases):
            (data / f"{i}.out").write_bytes(out.encode() if isinstance(out, str) else out)
            (data / f"{i}.err").write_bytes(err.encode() if isinstance(err, str) else err)
            pattern = "*" if args == "*" else "'" + args.replace("'", "'\\''") + "'"
            lines.append(f'  {pattern}) cat "{data}/{i}.out"; cat "{data}/{i}.err" >&2; exit {code};;')
        lines.append("esac")
        exe = self.path / name
        exe.write_text("\n".join(lines) + "\n")
        exe.chmod(0o755)
        return exe

    def add_script(self, name: str, script: str) -> Path:
        """Create ``name`` with an arbitrary shell script body."""
        exe = self.path / name
        exe.write_text("#!/bin/sh\n" + script + "\n")
        exe.chmod(0o755)
        return exe


@pytest.fixture
def fake_bin(tmp_path: Path) -> FakeBin:
    path = tmp_path / "bin"
    path.mkdir()
    return FakeBin(path)


@dataclass
class SysrootTree:
    """A directory standing in for ``/`` with ``--sysroot``."""

    root: Path

    def write(self, host_path: str, content: str | bytes, mode: int | None = None) -> Path:
        target = self.root / host_path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
        if mode is not None:
            target.chmod(mode)
        return target

    def mkdir(self, host_path: str) -> Path:
        target = self.root / host_path.lstrip("/")
        target.mkdir(parents=True, exist_ok=True)
        return target

    def symlink(self, host_path: str, target: str) -> Path:
        link = self.root / host_path.lstrip("/")
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)
        return link


@pytest.fixture
def sysroot(tmp_path: Path) -> SysrootTree:
    path = tmp_path / "root"
    path.mkdir()
    return SysrootTree(path)


def base_env(fake: FakeBin | None = None, **extra: str) -> dict[str, str]:
    """A minimal, isolated environment: HOME, LANG, and PATH = fake bin + the OS directories."""
    env = {
        "PATH": (f"{fake.path}:" if fake else "") + SYSTEM_PATH,
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "NO_COLOR": "1",
        "COLUMNS": "120",
    }
    env.update(extra)
    return env


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> dict:
        return json.loads(self.stdout)


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch) -> Callable[..., CliResult]:
    """Run the real typer app in-process with ``os.environ`` replaced by ``env``."""

    def run(*args: str, env: Mapping[str, str] | None = None) -> CliResult:
        from gpucheck.cli import app

        if env is not None:
            for key in list(os.environ):
                monkeypatch.delenv(key)
            for key, value in env.items():
                monkeypatch.setenv(key, value)
        result = CliRunner().invoke(app, list(args), catch_exceptions=False)
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return run


def run_gpucheck(*args: str, env: Mapping[str, str] | None = None, timeout: float = 120) -> CliResult:
    """Run ``python -m gpucheck`` as a real subprocess (for crash, exit-code and no-traceback tests)."""
    proc = subprocess.run(
        [sys.executable, "-m", "gpucheck", *args],
        capture_output=True,
        text=True,
        env=dict(env) if env is not None else None,
        timeout=timeout,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def findings_by_check(doc: dict) -> dict[str, list[dict]]:
    """Group a JSON report's findings by check id."""
    grouped: dict[str, list[dict]] = {}
    for f in doc["findings"]:
        grouped.setdefault(f["check"], []).append(f)
    return grouped
