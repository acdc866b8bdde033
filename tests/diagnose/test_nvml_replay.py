"""NVML evidence (a Value of readings) through inventory and checks, via `gpucheck doctor --replay`."""

from __future__ import annotations

from pathlib import Path

from gpucheck.collect.evidence import Evidence, Value
from gpucheck.collect.snapshot import read_snapshot
from gpucheck.diagnose.inventory import driver_info, gpu_inventory
from tests.conftest import findings_by_check

SNAPSHOT = Path(__file__).parents[1] / "fixtures" / "system" / "snapshots" / "nvml_two_h100.json"
SYSTEM = "driver,gpu,toolkit,compat,wsl,environ"


def test_inventory_from_nvml_readings() -> None:
    evidence = read_snapshot(SNAPSHOT)
    info = driver_info(evidence)
    assert (info.version, info.cuda_version, info.source, info.kernel_version) == (
        "550.54.14",
        "12.4",
        "nvml",
        "550.54.14",
    )
    gpus = gpu_inventory(evidence)
    assert [g.bus_id for g in gpus] == ["00000000:1B:00.0", "00000000:9C:00.0"]
    assert gpus[1].mig_mode is True and gpus[1].compute_mode == "Exclusive_Process"
    assert (gpus[1].pcie_width_current, gpus[1].pcie_width_max) == (8, 16)
    assert gpus[0].memory_total_mib == 81559 and gpus[0].compute_capability == "9.0"


def test_nvml_error_falls_back_and_is_reported() -> None:
    evidence = Evidence()
    evidence.add([Value(name="nvml", error="NVMLError_LibraryNotFound: NVML Shared Library Not Found")])
    info = driver_info(evidence)
    assert info.source == "none" and "NVMLError_LibraryNotFound" in (info.error or "")
    assert gpu_inventory(evidence) == ()


def test_replay_diagnoses_nvml_snapshot(invoke) -> None:
    result = invoke("doctor", "--replay", str(SNAPSHOT), "--json", "--only", SYSTEM)
    found = findings_by_check(result.json())
    assert found["driver.loaded"][0]["status"] == "pass"
    assert "550.54.14" in found["driver.loaded"][0]["summary"]
    assert found["compat.toolkit_driver"][0]["status"] == "pass"
    link = found["gpu.pcie_link"]
    # the snapshot holds no P-state: GPU 1's link below its maximum is information, not a fault
    assert [f["status"] for f in link] == ["pass"]
    assert "GPU 1: gen 5 of 5, x8 of x16, performance state not reported" in link[0]["summary"]
    modes = " | ".join(f["summary"] for f in found["gpu.modes"])
    assert "MIG mode is enabled" in modes and "compute mode Exclusive_Process" in modes
    assert len(found["gpu.modes"]) == 2 and all(f["status"] == "warn" for f in found["gpu.modes"])
    order = found["environ.cuda_device_order"][0]
    assert order["status"] == "warn" and "CUDA_DEVICE_ORDER=PCI_BUS_ID" in order["remediation"]
    assert found["driver.kernel_module"][0]["status"] == "pass"
    assert result.exit_code == 0
