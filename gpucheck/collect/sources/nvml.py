"""Evidence source: NVML through nvidia-ml-py (``pynvml``), the driver's own management library.

Command line equivalent: ``nvidia-smi --query-gpu=<the same fields> --format=csv``. Readings are stored under
``--query-gpu`` field names so the NVML path and the nvidia-smi fallback map one-to-one. NOTE: an NVML call on
a wedged driver can block forever; the registry runs this collector in a daemon thread with a deadline, so a
hang becomes a timed-out collector instead of a hung doctor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from gpucheck.collect.evidence import Item, Value
from gpucheck.collect.registry import CollectContext, collector

COMPUTE_MODES = {0: "Default", 1: "Exclusive_Thread", 2: "Prohibited", 3: "Exclusive_Process"}
"""``nvmlComputeMode_t`` → the name nvidia-smi prints."""


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _query(readings: dict[str, Any], errors: dict[str, str], field: str, call: Callable[[], Any]) -> None:
    """Store one reading, or the NVML error it raised (never raises)."""
    try:
        readings[field] = call()
    except Exception as exc:  # noqa: BLE001 - every NVML error (NotSupported, GpuIsLost ...) is evidence
        errors[field] = f"{type(exc).__name__}: {exc}"


def _device_readings(nvml: Any, index: int) -> dict[str, Any]:
    """Every reading of one GPU: unsupported ones in ``errors``; no handle at all: ``handle_error``."""
    try:
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
    except Exception as exc:  # noqa: BLE001 - one GPU's failure is that GPU's evidence, not NVML's
        return {"index": index, "handle_error": f"{type(exc).__name__}: {exc}"}
    readings: dict[str, Any] = {"index": index}
    errors: dict[str, str] = {}
    calls: dict[str, Callable[[], Any]] = {
        "name": lambda: _text(nvml.nvmlDeviceGetName(handle)),
        "uuid": lambda: _text(nvml.nvmlDeviceGetUUID(handle)),
        "pci.bus_id": lambda: _text(nvml.nvmlDeviceGetPciInfo(handle).busId),
        "memory.total": lambda: int(nvml.nvmlDeviceGetMemoryInfo(handle).total) // (1024 * 1024),
        "compute_cap": lambda: "{}.{}".format(*nvml.nvmlDeviceGetCudaComputeCapability(handle)),
        "persistence_mode": lambda: "Enabled" if nvml.nvmlDeviceGetPersistenceMode(handle) else "Disabled",
        "compute_mode": lambda: COMPUTE_MODES.get(nvml.nvmlDeviceGetComputeMode(handle), "Unknown"),
        "mig.mode.current": lambda: "Enabled" if nvml.nvmlDeviceGetMigMode(handle)[0] else "Disabled",
        "ecc.errors.uncorrected.volatile.total": lambda: int(
            nvml.nvmlDeviceGetTotalEccErrors(
                handle, nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, nvml.NVML_VOLATILE_ECC
            )
        ),
        "ecc.mode.current": lambda: "Enabled" if nvml.nvmlDeviceGetEccMode(handle)[0] else "Disabled",
        "ecc.errors.uncorrected.aggregate.total": lambda: int(
            nvml.nvmlDeviceGetTotalEccErrors(
                handle, nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, nvml.NVML_AGGREGATE_ECC
            )
        ),
        "retired_pages.single_bit_ecc.count": lambda: len(
            nvml.nvmlDeviceGetRetiredPages(
                handle, nvml.NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS
            )
        ),
        "retired_pages.double_bit.count": lambda: len(
            nvml.nvmlDeviceGetRetiredPages(handle, nvml.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR)
        ),
        "retired_pages.pending": lambda: (
            "Yes" if nvml.nvmlDeviceGetRetiredPagesPendingStatus(handle) else "No"
        ),
        "remapped_rows.uncorrectable": lambda: int(nvml.nvmlDeviceGetRemappedRows(handle)[1]),
        "remapped_rows.pending": lambda: "Yes" if nvml.nvmlDeviceGetRemappedRows(handle)[2] else "No",
        "remapped_rows.failure": lambda: "Yes" if nvml.nvmlDeviceGetRemappedRows(handle)[3] else "No",
        "temperature.gpu": lambda: int(nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)),
        "temperature.gpu.slowdown": lambda: int(
            nvml.nvmlDeviceGetTemperatureThreshold(handle, nvml.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN)
        ),
        "pstate": lambda: f"P{int(nvml.nvmlDeviceGetPerformanceState(handle))}",
        "utilization.gpu": lambda: int(nvml.nvmlDeviceGetUtilizationRates(handle).gpu),
        "pcie.link.gen.current": lambda: int(nvml.nvmlDeviceGetCurrPcieLinkGeneration(handle)),
        "pcie.link.gen.max": lambda: int(nvml.nvmlDeviceGetMaxPcieLinkGeneration(handle)),
        "pcie.link.width.current": lambda: int(nvml.nvmlDeviceGetCurrPcieLinkWidth(handle)),
        "pcie.link.width.max": lambda: int(nvml.nvmlDeviceGetMaxPcieLinkWidth(handle)),
    }
    for field, call in calls.items():
        _query(readings, errors, field, call)
    readings["errors"] = errors
    return readings


def read_nvml(nvml: Any) -> dict[str, Any]:
    """Initialise NVML, read the driver and every GPU, then shut it down; only init errors propagate."""
    nvml.nvmlInit()
    try:
        data: dict[str, Any] = {"errors": {}}
        _query(data, data["errors"], "driver_version", lambda: _text(nvml.nvmlSystemGetDriverVersion()))
        _query(
            data, data["errors"], "cuda_driver_version", lambda: int(nvml.nvmlSystemGetCudaDriverVersion())
        )
        _query(data, data["errors"], "nvml_version", lambda: _text(nvml.nvmlSystemGetNVMLVersion()))
        count = int(nvml.nvmlDeviceGetCount())
        data["gpus"] = [_device_readings(nvml, i) for i in range(count)]
        return data
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:  # noqa: BLE001, S110 - a failed shutdown changes nothing we report
            pass


@collector("nvml", timeout_s=5.0)
def collect_nvml(ctx: CollectContext) -> Iterable[Item]:
    """NVML readings of the driver and every GPU, or why NVML could not be loaded or initialised."""
    if ctx.sysroot.root not in ("", "/"):
        yield Value(name="nvml", error="not probed: NVML describes the running host, not the --sysroot tree")
        return
    if ctx.env.get("GPUCHECK_DISABLE_NVML"):
        yield Value(name="nvml", error="not probed: GPUCHECK_DISABLE_NVML is set")
        return
    try:
        import pynvml
    except ImportError as exc:
        yield Value(name="nvml", error=f"nvidia-ml-py is not installed: {exc}")
        return
    try:
        yield Value(name="nvml", data=read_nvml(pynvml))
    except Exception as exc:  # noqa: BLE001 - NVMLError_LibraryNotFound, DriverNotLoaded ... are the evidence
        yield Value(name="nvml", error=f"{type(exc).__name__}: {exc}")
