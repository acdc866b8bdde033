"""The NVML collector's mapping of NVML calls to `--query-gpu` field names, with a hand-written NVML stand-in.

NVML is absent on machines without a driver, so this exercises `read_nvml` against an object that answers the
same functions the real `pynvml` module exposes (its constants and error classes are the real ones); the real
library is exercised by the `gpu`-marked test in test_system_collectors.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pynvml
import pytest

from gpucheck.collect.evidence import Evidence, Value
from gpucheck.collect.sources.nvml import read_nvml
from gpucheck.diagnose.inventory import driver_info, gpu_inventory


@dataclass
class PciInfo:
    busId: str  # noqa: N815 - NVML's own field name


@dataclass
class Memory:
    total: int


@dataclass
class NvmlStandIn:
    """Answers like a driver 550.54.14 with one RTX 3090 whose ECC query is unsupported (GeForce)."""

    calls: list[str] = field(default_factory=list)
    NVML_MEMORY_ERROR_TYPE_UNCORRECTED = pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED
    NVML_VOLATILE_ECC = pynvml.NVML_VOLATILE_ECC
    NVML_TEMPERATURE_GPU = pynvml.NVML_TEMPERATURE_GPU

    def nvmlInit(self) -> None:  # noqa: N802 - NVML's names
        self.calls.append("init")

    def nvmlShutdown(self) -> None:  # noqa: N802
        self.calls.append("shutdown")

    def nvmlSystemGetDriverVersion(self) -> str:  # noqa: N802
        return "550.54.14"

    def nvmlSystemGetCudaDriverVersion(self) -> int:  # noqa: N802
        return 12040

    def nvmlSystemGetNVMLVersion(self) -> str:  # noqa: N802
        return "12.550.54.14"

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802
        return 1

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:  # noqa: N802
        return index

    def nvmlDeviceGetName(self, h: int) -> bytes:  # noqa: N802
        return b"NVIDIA GeForce RTX 3090"

    def nvmlDeviceGetUUID(self, h: int) -> str:  # noqa: N802
        return "GPU-5ae5b2a5-7d2b-4c4e-9e59-0d3f7a7b8c11"

    def nvmlDeviceGetPciInfo(self, h: int) -> PciInfo:  # noqa: N802
        return PciInfo(busId="00000000:01:00.0")

    def nvmlDeviceGetMemoryInfo(self, h: int) -> Memory:  # noqa: N802
        return Memory(total=24 * 1024**3)

    def nvmlDeviceGetCudaComputeCapability(self, h: int) -> tuple[int, int]:  # noqa: N802
        return (8, 6)

    def nvmlDeviceGetPersistenceMode(self, h: int) -> int:  # noqa: N802
        return 0

    def nvmlDeviceGetComputeMode(self, h: int) -> int:  # noqa: N802
        return 3

    def nvmlDeviceGetMigMode(self, h: int) -> tuple[int, int]:  # noqa: N802
        raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)

    def nvmlDeviceGetTotalEccErrors(self, h: int, kind: int, counter: int) -> int:  # noqa: N802
        raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)

    def nvmlDeviceGetRetiredPagesPendingStatus(self, h: int) -> int:  # noqa: N802
        raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)

    def nvmlDeviceGetRemappedRows(self, h: int) -> tuple[int, int, int, int]:  # noqa: N802
        raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)

    def nvmlDeviceGetTemperature(self, h: int, sensor: int) -> int:  # noqa: N802
        return 56

    def nvmlDeviceGetCurrPcieLinkGeneration(self, h: int) -> int:  # noqa: N802
        return 1

    def nvmlDeviceGetMaxPcieLinkGeneration(self, h: int) -> int:  # noqa: N802
        return 4

    def nvmlDeviceGetCurrPcieLinkWidth(self, h: int) -> int:  # noqa: N802
        return 16

    def nvmlDeviceGetMaxPcieLinkWidth(self, h: int) -> int:  # noqa: N802
        return 16


def test_read_nvml_maps_readings_and_keeps_errors() -> None:
    nvml = NvmlStandIn()
    data = read_nvml(nvml)
    assert nvml.calls == ["init", "shutdown"]
    assert (data["driver_version"], data["cuda_driver_version"]) == ("550.54.14", 12040)
    (gpu,) = data["gpus"]
    assert gpu["name"] == "NVIDIA GeForce RTX 3090" and gpu["memory.total"] == 24576
    assert gpu["compute_cap"] == "8.6" and gpu["compute_mode"] == "Exclusive_Process"
    assert gpu["persistence_mode"] == "Disabled"
    assert "mig.mode.current" not in gpu and gpu["errors"]["mig.mode.current"].startswith("NVMLError")


def test_nvml_readings_build_the_inventory() -> None:
    evidence = Evidence()
    evidence.add([Value(name="nvml", data=read_nvml(NvmlStandIn()))])
    info = driver_info(evidence)
    assert (info.version, info.cuda_version, info.source) == ("550.54.14", "12.4", "nvml")
    (gpu,) = gpu_inventory(evidence)
    assert gpu.mig_mode is None and gpu.ecc_uncorrected is None
    assert (gpu.pcie_gen_current, gpu.pcie_gen_max, gpu.persistence_mode) == (1, 4, False)


def test_nvml_init_failure_shuts_nothing_down() -> None:
    class Broken(NvmlStandIn):
        def nvmlInit(self) -> None:  # noqa: N802
            raise pynvml.NVMLError(pynvml.NVML_ERROR_DRIVER_NOT_LOADED)

    nvml = Broken()
    with pytest.raises(pynvml.NVMLError, match="Driver Not Loaded"):
        read_nvml(nvml)
    assert nvml.calls == []
