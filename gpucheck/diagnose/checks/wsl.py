"""Checks: WSL2 — detected, the Windows driver's libraries present, no Linux driver inside the distro."""

from __future__ import annotations

from gpucheck.diagnose import advice
from gpucheck.diagnose.facts import Facts
from gpucheck.diagnose.finding import Finding, failed, passed, skipped, warned
from gpucheck.diagnose.host import detect_host
from gpucheck.diagnose.inventory import driver_info
from gpucheck.diagnose.parse.nvidia_smi import SmiFailure
from gpucheck.diagnose.parse.proc import KernelFlavour
from gpucheck.diagnose.registry import check
from gpucheck.diagnose.system import kernel_flavour, library_paths, smi_state
from gpucheck.knowledge import load

NEEDS = ("procfs", "wsl")
EVIDENCE = ("file:/proc/version", "wsl_markers", "dir:/usr/lib/wsl/lib")
WSL_LIB = "/usr/lib/wsl/lib"
WSL_REPO = "https://developer.download.nvidia.com/compute/cuda/repos/wsl-ubuntu/x86_64/"
"""NVIDIA's WSL-Ubuntu CUDA repository: toolkit packages without a Linux driver."""


def _wsl_toolkit(facts: Facts) -> str:
    """The WSL-Ubuntu toolkit package the Windows driver supports (``cuda-toolkit-13-2``), or the pattern."""
    reported = facts.of(driver_info).cuda_version
    release = load.newest_real_release_at_most(reported) if reported else None
    if release is None:
        return "`cuda-toolkit-<major>-<minor>` for the CUDA version `nvidia-smi` prints"
    package = f"cuda-toolkit-{release.replace('.', '-')}"
    return f"`{package}` (or an older one; the Windows driver supports CUDA ≤ {release})"


LINUX_DRIVER_PACKAGES = {
    "apt": ["nvidia-driver-*", "nvidia-utils-*", "libnvidia-compute-*"],
    "dnf": ["nvidia-driver*", "cuda-drivers", "akmod-nvidia"],
    "zypper": ["nvidia-driver-G06*", "nvidia-compute-utils-G06"],
    "pacman": ["nvidia", "nvidia-open", "nvidia-utils"],
}
"""A Linux NVIDIA driver's packages per family: none of them belongs inside a WSL2 distro."""


def purge_fix(facts: Facts) -> str:
    """Remove the Linux driver from the distro and name the toolkit package that fits the Windows driver."""
    host = facts.of(detect_host)
    return (
        "Remove the Linux driver from the distro (WSL2 uses the Windows driver): "
        f"{advice.remove_packages(host, LINUX_DRIVER_PACKAGES)}; install only the WSL-Ubuntu "
        f"{_wsl_toolkit(facts)} from NVIDIA's WSL-Ubuntu repository ({WSL_REPO}), never `cuda` or "
        "`cuda-drivers`; use /usr/lib/wsl/lib/nvidia-smi."
    )


def _markers(facts: Facts) -> dict:
    item = facts.evidence.value("wsl_markers")
    return item.data if item is not None and isinstance(item.data, dict) else {}


@check("wsl.kernel", title="WSL: version 2 with GPU paravirtualisation", needs=NEEDS)
def check_kernel(facts: Facts) -> Finding:
    """WSL1 (no GPU) or WSL2, and whether /dev/dxg exists."""
    flavour = facts.of(kernel_flavour)
    if flavour is KernelFlavour.WSL1:
        return failed(
            "running under WSL1, which has no GPU access",
            "From Windows PowerShell: `wsl --set-version <distro> 2` (list distros with `wsl -l -v`).",
            evidence=EVIDENCE,
        )
    if flavour is not KernelFlavour.WSL2:
        return skipped("not running under WSL", evidence=EVIDENCE)
    if not _markers(facts).get("/dev/dxg"):
        return failed(
            "WSL2 kernel without /dev/dxg: GPU paravirtualisation is off",
            "Update WSL from Windows: `wsl --update`, then `wsl --shutdown`; install the current NVIDIA "
            "Windows driver.",
            evidence=EVIDENCE,
        )
    return passed("WSL2 with GPU paravirtualisation (/dev/dxg present)", evidence=EVIDENCE)


@check("wsl.windows_driver", title="WSL2: the Windows driver's libraries are mapped in", needs=NEEDS)
def check_windows_driver(facts: Facts) -> Finding:
    """libcuda.so.1 and nvidia-smi under /usr/lib/wsl/lib, provided by the Windows driver."""
    if facts.of(kernel_flavour) is not KernelFlavour.WSL2:
        return skipped("not running under WSL2")
    listing = facts.evidence.dir(WSL_LIB)
    entries = set(listing.entries) if listing is not None else set()
    if "libcuda.so.1" in entries or "libcuda.so" in entries:
        return passed(
            f"the Windows NVIDIA driver provides {WSL_LIB} ({len(entries)} files, libcuda.so.1 among them)",
            evidence=EVIDENCE,
        )
    return failed(
        f"{WSL_LIB} has no libcuda.so.1: the Windows NVIDIA driver is missing or too old for WSL2",
        "Install the current NVIDIA driver on Windows (R470 or newer supports WSL2), then "
        "`wsl --shutdown` from Windows.",
        evidence=EVIDENCE,
    )


@check(
    "wsl.linux_driver",
    title="WSL2: no Linux NVIDIA driver inside the distro",
    needs=(*NEEDS, "libraries", "nvidia_smi"),
)
def check_linux_driver(facts: Facts) -> Finding:
    """A Linux driver's libcuda / libnvidia-ml / kernel module inside WSL2, and its known failure messages."""
    if facts.of(kernel_flavour) is not KernelFlavour.WSL2:
        return skipped("not running under WSL2")
    smi = facts.of(smi_state)
    if smi.failure is SmiFailure.WSL_ACCESS_BLOCKED:
        return failed(
            "NVML says `GPU access blocked by the operating system`: a Linux NVIDIA userspace inside "
            "the distro (or a TCC-mode GPU on Windows) blocks WSL2 GPU access",
            purge_fix(facts),
            evidence=(*EVIDENCE, smi.evidence_key),
        )
    strays = sorted(
        {
            p
            for p in facts.of(library_paths)
            if not p.startswith(WSL_LIB + "/")
            and ("/libcuda.so" in p or "/libnvidia-ml.so" in p)
            and "/compat/" not in p
            and "/stubs/" not in p
        }
    )
    module = facts.evidence.file("/proc/driver/nvidia/version")
    if module is not None and module.exists:
        strays.insert(0, "/proc/driver/nvidia/version (a Linux kernel module)")
    if strays:
        return failed(
            f"a Linux NVIDIA driver is installed inside WSL2: {', '.join(strays[:4])}",
            purge_fix(facts),
            evidence=EVIDENCE,
            data={"files": strays},
        )
    table = facts.evidence.command("nvidia-smi")
    if table is not None and "CUDA Version: ERR!" in table.stdout:
        return warned(
            "nvidia-smi prints `CUDA Version: ERR!`: the WSL2 driver libraries are inconsistent",
            "Update the Windows NVIDIA driver and WSL (`wsl --update`), then `wsl --shutdown`.",
            evidence=(*EVIDENCE, table.key),
        )
    return passed("no Linux NVIDIA driver inside the distro", evidence=EVIDENCE)
