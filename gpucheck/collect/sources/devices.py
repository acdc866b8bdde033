"""Evidence source: the NVIDIA device nodes — which exist, their type, mode, owner and group.

Command line equivalent: ``ls -l /dev/nvidia* /dev/nvidia-caps/* /dev/dxg``; ``getent group <gid>``. CUDA
opens /dev/nvidiactl, /dev/nvidia<N> and /dev/nvidia-uvm read-write; a user who may not gets NVML's
``Insufficient Permissions`` or CUDA's ``no CUDA-capable device``.
"""

from __future__ import annotations

from collections.abc import Iterable

from gpucheck.collect.evidence import Item, Value
from gpucheck.collect.registry import CollectContext, collector
from gpucheck.collect.sources.host import group_names

PATTERNS = ("/dev/nvidia*", "/dev/nvidia-caps/*", "/dev/dxg")


@collector("device_nodes", timeout_s=2.0)
def collect_device_nodes(ctx: CollectContext) -> Iterable[Item]:
    """Every /dev/nvidia* node (and /dev/dxg) with its type, mode, uid and gid, and the groups' names."""
    paths = [p for pattern in PATTERNS for p in ctx.glob(pattern).entries]
    nodes = [ctx.sysroot.stat(p) for p in dict.fromkeys(paths)]
    gids = {n["gid"] for n in nodes if isinstance(n.get("gid"), int)}
    yield Value(
        name="device_nodes",
        data={"dev": ctx.sysroot.exists("/dev"), "nodes": nodes, "group_names": group_names(ctx, gids)},
    )
