"""Evidence source: what the kernel says about the NVIDIA driver.

Command line equivalent: ``cat /proc/driver/nvidia/version /proc/modules /proc/version; ls /dev/nvidia*``.
"""

from __future__ import annotations

from collections.abc import Iterable

from gpucheck.collect.evidence import Item
from gpucheck.collect.registry import CollectContext, collector

PROC_FILES = ("/proc/driver/nvidia/version", "/proc/modules", "/proc/version")
DEVICE_GLOB = "/dev/nvidia*"


@collector("procfs", timeout_s=2.0)
def collect_procfs(ctx: CollectContext) -> Iterable[Item]:
    """The NVIDIA module's version file, the loaded modules, the kernel version and /dev/nvidia* nodes."""
    for path in PROC_FILES:
        yield ctx.read(path)
    yield ctx.glob(DEVICE_GLOB)
