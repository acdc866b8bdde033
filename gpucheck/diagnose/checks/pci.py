"""Checks: the bottom of the stack — an NVIDIA GPU on the PCI bus, and which kernel driver claimed it.

Read from /sys/bus/pci/devices (what ``lspci -nnk -d 10de:`` prints): vendor 0x10de, class 0x03xxxx (display
or 3D controller), and the ``driver`` link (``nvidia``, ``nouveau``, ``vfio-pci``, or none).
"""

from __future__ import annotations

from gpucheck.diagnose import advice
from gpucheck.diagnose.facts import Facts
from gpucheck.diagnose.finding import Finding, failed, passed, skipped, warned
from gpucheck.diagnose.host import detect_host
from gpucheck.diagnose.inventory import driver_info, gpu_inventory
from gpucheck.diagnose.registry import check
from gpucheck.diagnose.system import is_wsl2, loaded_modules

EVIDENCE = ("pci_devices",)


def nvidia_gpus(facts: Facts) -> list[dict] | None:
    """The NVIDIA display/3D functions on the bus; None when sysfs was not readable."""
    item = facts.evidence.value("pci_devices")
    data = item.data if item is not None and isinstance(item.data, dict) else None
    if not data or not data.get("readable"):
        return None
    return [
        d
        for d in data.get("devices", ())
        if isinstance(d, dict) and str(d.get("class") or "").startswith("0x03")
    ]


def _ids(gpu: dict) -> str:
    return f"{gpu['address']} [10de:{str(gpu.get('device') or '?').removeprefix('0x')}]"


@check(
    "driver.pci_devices",
    title="an NVIDIA GPU is on the PCI bus and the nvidia driver claimed it",
    needs=("pci", "procfs", "nvml", "nvidia_smi"),
)
def check_pci_devices(facts: Facts) -> Finding:
    """NVIDIA GPUs under /sys/bus/pci/devices, and the kernel driver bound to each."""
    if is_wsl2(facts.evidence):
        return skipped("WSL2 exposes the GPU through /dev/dxg, not the PCI bus")
    gpus = nvidia_gpus(facts)
    if gpus is None:
        return skipped("/sys/bus/pci/devices is not readable here")
    host = facts.of(detect_host)
    if not gpus and (facts.of(driver_info).loaded or facts.of(gpu_inventory)):
        # NOTE: an integrated GPU (Jetson/Tegra) is not a PCI function; the driver answering is what counts
        return passed(
            "no NVIDIA GPU on the PCI bus, but the driver answers: an integrated (SoC) GPU", evidence=EVIDENCE
        )
    if not gpus:
        return failed(
            "no NVIDIA GPU on the PCI bus (/sys/bus/pci/devices lists no vendor 0x10de display or 3D "
            "controller): no driver can help until one is there",
            advice.on_host(
                host,
                "On a cloud VM pick a GPU instance type (or attach the GPU); on a hypervisor pass the GPU "
                "through to this VM; on bare metal reseat the card, connect its power cables and enable the "
                "slot (Above 4G decoding) in the firmware, then check `lspci -nn | grep -i nvidia`.",
            ),
            evidence=EVIDENCE,
            data={"count": 0},
        )
    modules = facts.of(loaded_modules) or frozenset()
    by_driver: dict[str | None, list[dict]] = {}
    for gpu in gpus:
        by_driver.setdefault(gpu.get("driver"), []).append(gpu)
    listing = ", ".join(_ids(g) for g in gpus)
    data = {
        "count": len(gpus),
        "devices": [g.get("device") for g in gpus],
        "drivers": sorted(map(str, by_driver)),
    }
    if "nouveau" in by_driver:
        return failed(
            f"nouveau, not nvidia, drives {', '.join(_ids(g) for g in by_driver['nouveau'])}",
            advice.blacklist_nouveau(host),
            evidence=EVIDENCE,
            data={**data, "stack_layer": "kernel"},
        )
    if "vfio-pci" in by_driver:
        return warned(
            f"{', '.join(_ids(g) for g in by_driver['vfio-pci'])} is bound to vfio-pci (reserved for passing "
            "through to a VM), so this host's nvidia driver cannot use it",
            advice.on_host(
                host,
                "If this host should use it, remove its id from the vfio-pci `ids=` option "
                "(/etc/modprobe.d/, the kernel command line) and reboot.",
            ),
            evidence=EVIDENCE,
            data=data,
        )
    unbound = by_driver.get(None, [])
    if unbound and "nvidia" in modules:
        return failed(
            f"the nvidia module is loaded but claimed none of {', '.join(_ids(g) for g in unbound)}: this "
            "driver does not support the GPU (too old a branch for a new GPU, or open kernel modules on "
            "a GPU older than Turing)",
            "Read why: `sudo dmesg | grep NVRM` (see driver.kernel_log), then install a driver branch that "
            "supports this GPU: " + advice.driver_install(host, "580"),
            evidence=EVIDENCE,
            data={**data, "stack_layer": "kernel"},
        )
    if set(by_driver) <= {"nvidia"}:
        return passed(
            f"{len(gpus)} NVIDIA GPU(s) on the PCI bus, driven by nvidia: {listing}",
            evidence=EVIDENCE,
            data=data,
        )
    return passed(
        f"{len(gpus)} NVIDIA GPU(s) on the PCI bus, no driver bound yet: {listing}",
        evidence=EVIDENCE,
        data=data,
    )
