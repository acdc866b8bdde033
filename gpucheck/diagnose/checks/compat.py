"""Checks: the CUDA toolkit against the driver (CUDA minor-version compatibility)."""

from __future__ import annotations

from gpucheck.diagnose import advice
from gpucheck.diagnose.cuda_compat import (
    driver_fully_supports_cuda,
    driver_supports_cuda,
    max_cuda_for_driver,
    min_driver_for_cuda,
    min_driver_for_major,
)
from gpucheck.diagnose.facts import Facts
from gpucheck.diagnose.finding import Finding, failed, passed, skipped, warned
from gpucheck.diagnose.host import detect_host
from gpucheck.diagnose.inventory import driver_info
from gpucheck.diagnose.registry import check
from gpucheck.diagnose.toolkits import active_toolkit

EVIDENCE = ("nvml", "nvcc_candidates")


def _downgrade(facts: Facts, cuda: str | None) -> str:
    if cuda is None:
        return ""
    install = advice.install_packages(facts.of(detect_host), advice.cuda_packages("toolkit", cuda))
    return (
        f"; or use a toolkit this driver supports: {install} "
        f"and `export PATH=/usr/local/cuda-{cuda}/bin:$PATH`"
    )


def _upgrade(facts: Facts, needed: str | None) -> str:
    """The exact driver upgrade for a toolkit that needs driver ``needed``."""
    branch = needed.split(".")[0] if needed else "580"
    text = advice.driver_install(facts.of(detect_host), branch, why=f" (≥ {needed})" if needed else "")
    return text.removesuffix(".")


@check(
    "compat.toolkit_driver",
    title="the driver supports the CUDA toolkit in use",
    needs=("nvml", "nvidia_smi", "procfs", "toolkit"),
)
def check_toolkit_driver(facts: Facts) -> Finding:
    """Driver version against the active toolkit: full support, minor-version compatibility, or too old."""
    toolkit, info = facts.of(active_toolkit), facts.of(driver_info)
    if toolkit is None or toolkit.version is None:
        return skipped("no CUDA toolkit on PATH (see toolkit.nvcc)")
    needed = min_driver_for_cuda(toolkit.version)
    if not info.loaded or info.version is None:
        need = f": it will need driver ≥ {needed}" if needed else ""
        return skipped(f"no NVIDIA driver loaded to run the CUDA {toolkit.version} toolkit's programs{need}")
    data = {
        "driver": info.version,
        "toolkit": toolkit.version,
        "min_driver": needed,
        "driver_max_cuda": info.cuda_version or max_cuda_for_driver(info.version),
    }
    upgrade = _upgrade(facts, needed)
    if driver_fully_supports_cuda(info.version, toolkit.version):
        return passed(
            f"driver {info.version} supports CUDA {toolkit.version} (needs ≥ {needed})",
            evidence=EVIDENCE,
            data=data,
        )
    if driver_supports_cuda(info.version, toolkit.version):
        return warned(
            f"driver {info.version} runs CUDA {toolkit.version} only through minor-version compatibility "
            f"(≥ {min_driver_for_major(toolkit.version)}); it fully supports CUDA ≤ "
            f"{data['driver_max_cuda']}: "
            "PTX built by this toolkit cannot be JIT-compiled and newer driver features fail",
            upgrade + ".",
            evidence=EVIDENCE,
            data=data,
        )
    return failed(
        f"driver {info.version} supports CUDA ≤ {data['driver_max_cuda']}, but the toolkit on PATH is CUDA "
        f"{toolkit.version} (needs driver ≥ {needed}): programs fail with `CUDA driver version is "
        "insufficient for CUDA runtime version`",
        upgrade + _downgrade(facts, data["driver_max_cuda"]) + ".",
        evidence=EVIDENCE,
        data=data,
    )
