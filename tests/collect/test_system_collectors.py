"""System-layer collectors against fake executables and sysroot trees, without --sysroot shortcuts."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpucheck.collect.registry import CollectContext, collect
from gpucheck.collect.sources import nvidia_smi
from gpucheck.collect.sysroot import Sysroot
from gpucheck.diagnose.facts import Facts
from gpucheck.diagnose.registry import run_checks, select_checks
from tests.conftest import FakeBin, base_env

FIXTURES = Path(__file__).parents[1] / "fixtures" / "system"


def _findings(evidence, only: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in run_checks(select_checks((only,)), Facts(evidence)):
        out.setdefault(f.check, []).append(f)
    return out


def test_nvidia_smi_command_timeout_is_recorded(fake_bin: FakeBin, monkeypatch) -> None:
    monkeypatch.setattr(nvidia_smi, "TIMEOUT_S", 0.5)
    fake_bin.add("nvidia-smi", "never printed", sleep_s=5)
    ctx = CollectContext(env=base_env(fake_bin, GPUCHECK_DISABLE_NVML="1"))
    evidence = collect(ctx, ["nvml", "nvidia_smi", "procfs"])
    runs = {" ".join(i.argv[1:2]): i for i in evidence.with_prefix("cmd:nvidia-smi")}
    # the query and the table run side by side; a hung driver stops every further call (no XML, no help)
    assert sorted(runs) == ["", "--query-gpu=" + ",".join(nvidia_smi.QUERY_FIELDS)]
    assert all(run.timed_out and run.returncode is None for run in runs.values())
    found = _findings(evidence, "driver")
    assert found["driver.nvidia_smi"][0].status.value == "error"
    assert "did not finish within" in found["driver.nvidia_smi"][0].summary
    assert evidence.value("nvml").error == "not probed: GPUCHECK_DISABLE_NVML is set"


def test_nvcc_faults_on_path(fake_bin: FakeBin, tmp_path: Path) -> None:
    fake_bin.add("nvcc", b"\xff\xfe garbage \x80\n")
    ctx = CollectContext(env=base_env(fake_bin))
    found = _findings(collect(ctx, ["env", "toolkit", "libraries"]), "toolkit")
    assert found["toolkit.nvcc"][0].status.value == "error"
    assert "printed no version" in found["toolkit.nvcc"][0].summary

    (fake_bin.path / "nvcc").write_text("#!/\n")
    found = _findings(collect(ctx, ["env", "toolkit", "libraries"]), "toolkit")
    assert "Permission denied" in found["toolkit.nvcc"][0].summary


def test_nvcc_banner_from_fake_on_path(fake_bin: FakeBin) -> None:
    fake_bin.add("nvcc", (FIXTURES / "nvcc" / "11.7.txt").read_text())
    ctx = CollectContext(env=base_env(fake_bin))
    found = _findings(collect(ctx, ["env", "toolkit", "libraries"]), "toolkit")
    assert found["toolkit.nvcc"][0].status.value == "pass"
    assert f"CUDA 11.7 toolkit (nvcc 11.7.99) at {fake_bin.path}/nvcc" in found["toolkit.nvcc"][0].summary


def test_unreadable_proc_files_are_evidence_not_errors(sysroot) -> None:
    sysroot.mkdir("/proc/driver/nvidia/version")  # NOTE: a directory where a file should be: read fails
    sysroot.write("/proc/version", "\x00\xff not a kernel line")
    ctx = CollectContext(sysroot=Sysroot(str(sysroot.root)), env=base_env())
    evidence = collect(ctx, ["procfs", "wsl", "nvml", "nvidia_smi"])
    assert evidence.file("/proc/driver/nvidia/version").error == "is a directory"
    found = _findings(evidence, "wsl")
    assert found["wsl.kernel"][0].status.value == "skip"
    assert _findings(evidence, "driver")["driver.loaded"][0].status.value == "fail"


def test_nvml_collector_without_a_driver_records_the_nvml_error() -> None:
    if Path("/proc/driver/nvidia/version").exists():
        pytest.skip("an NVIDIA driver is loaded on this machine")
    evidence = collect(CollectContext(env=base_env()), ["nvml"])
    item = evidence.value("nvml")
    assert evidence.collectors["nvml"].ok
    assert item.data is None and item.error.startswith("NVMLError")


@pytest.mark.gpu
def test_nvml_collector_reads_real_gpus() -> None:
    evidence = collect(CollectContext(env=base_env()), ["nvml", "nvidia_smi"])
    data = evidence.value("nvml").data
    assert data["driver_version"] and data["gpus"]
    from gpucheck.diagnose.inventory import gpu_inventory

    gpus = gpu_inventory(evidence)
    assert gpus[0].source == "nvml" and gpus[0].uuid.startswith("GPU-")
