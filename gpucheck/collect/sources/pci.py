"""Evidence source: the NVIDIA functions on the PCI bus and which kernel driver each is bound to.

Command line equivalent: ``lspci -nnk -d 10de:`` (read from ``/sys/bus/pci/devices/*/{vendor,device,class}``
and the ``driver`` link, so no pciutils is needed and ``--sysroot`` trees carry it).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from gpucheck.collect.evidence import Item, Value
from gpucheck.collect.registry import CollectContext, collector

SYSFS = "/sys/bus/pci/devices"
NVIDIA_VENDOR = "0x10de"


def _attr(ctx: CollectContext, device: str, name: str) -> str | None:
    read = ctx.read(f"{SYSFS}/{device}/{name}")
    return read.content.strip().lower() if read.content is not None else None


@collector("pci", timeout_s=3.0)
def collect_pci(ctx: CollectContext) -> Iterable[Item]:
    """Vendor, device and class ids of every NVIDIA PCI function, and the kernel driver bound to it."""
    listing = ctx.listdir(SYSFS)
    devices = []
    for address in listing.entries:
        if _attr(ctx, address, "vendor") != NVIDIA_VENDOR:
            continue
        link = f"{SYSFS}/{address}/driver"
        driver = os.path.basename(ctx.sysroot.realpath(link)) if ctx.sysroot.exists(link) else None
        devices.append(
            {
                "address": address,
                "vendor": NVIDIA_VENDOR,
                "device": _attr(ctx, address, "device"),
                "class": _attr(ctx, address, "class"),
                "driver": driver,
            }
        )
    yield Value(
        name="pci_devices",
        data={
            "readable": listing.exists and listing.error is None,
            "error": listing.error,
            "devices": devices,
        },
    )
