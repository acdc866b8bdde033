"""Faults in the system layer's probes become findings and never a traceback (real subprocess runs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import FakeBin, run_gpucheck
from tests.test_scenarios import SCENARIOS, assert_expected, doctor_args, materialise

FAULTS = sorted(p for p in SCENARIOS.iterdir() if p.name.startswith("fault-"))


@pytest.mark.parametrize("folder", FAULTS, ids=lambda p: p.name)
def test_fault_yields_finding_without_traceback(folder: Path, fake_bin: FakeBin, sysroot) -> None:
    expected = materialise(folder, fake_bin, sysroot.root)
    result = run_gpucheck(*doctor_args(sysroot.root, expected), env=expected["_env"])
    assert "Traceback" not in result.stdout + result.stderr
    assert result.exit_code == expected["exit_code"], result.stderr
    assert_expected(result.json(), expected)


@pytest.mark.parametrize("folder", FAULTS, ids=lambda p: p.name)
def test_fault_console_output_has_no_traceback(folder: Path, fake_bin: FakeBin, sysroot) -> None:
    expected = materialise(folder, fake_bin, sysroot.root)
    args = [a for a in doctor_args(sysroot.root, expected) if a != "--json"]
    result = run_gpucheck(*args, "--verbose", env=expected["_env"])
    assert "Traceback" not in result.stdout + result.stderr
    assert "driver.nvidia_smi" in result.stdout
