"""Evidence source: the NVIDIA Container Toolkit binaries, their versions and ``nvidia-container-cli info``.

Command line equivalent: ``nvidia-ctk --version``; ``nvidia-container-runtime --version``;
``nvidia-container-cli --version``; ``nvidia-container-cli info``; ``which nvidia-container-runtime-hook``;
``ls /proc/driver/nvidia/version /dev/nvidiactl /dev/dxg``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from gpucheck.collect.evidence import Item, Value
from gpucheck.collect.registry import CollectContext, collector

TOOLKIT_COMMANDS: tuple[str, ...] = ("nvidia-ctk", "nvidia-container-runtime", "nvidia-container-cli")
"""The toolkit's user-facing binaries; each is asked for ``--version``."""

HOOK_BINARIES: tuple[str, ...] = ("nvidia-container-runtime-hook", "nvidia-cdi-hook")
"""Binaries dockerd or a CDI spec runs; only looked up. NOTE: dockerd registers its ``--gpus`` device driver
only when ``nvidia-container-runtime-hook`` is on its PATH (moby daemon/nvidia_linux.go)."""

DRIVER_MARKERS: tuple[str, ...] = ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/dxg")
"""Files that exist when an NVIDIA driver is loaded (``/dev/dxg`` on WSL2)."""

DOCKERD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""The PATH systemd gives dockerd; it resolves a bare runtime ``path`` from daemon.json on it."""


def search_dirs(ctx: CollectContext) -> list[str]:
    """Directories searched for an executable: this environment's PATH, then dockerd's systemd PATH."""
    dirs = [*ctx.env.get("PATH", "").split(os.pathsep), *DOCKERD_PATH.split(os.pathsep)]
    return [d for d in dict.fromkeys(dirs) if d]


def lookup_executable(ctx: CollectContext, name: str) -> str | None:
    """The host path of ``name`` (an absolute path, or a bare name searched on ``search_dirs``), or None."""
    if os.sep in name:
        return name if ctx.sysroot.is_executable(name) else None
    for directory in search_dirs(ctx):
        candidate = os.path.join(directory, name)
        if ctx.sysroot.is_executable(candidate):
            return candidate
    return None


@collector("container_toolkit", timeout_s=20.0)
def collect_container_toolkit(ctx: CollectContext) -> Iterable[Item]:
    """The toolkit's binaries and versions, ``nvidia-container-cli info``, and whether a driver is loaded."""
    for command in TOOLKIT_COMMANDS:
        yield ctx.run(command, "--version", timeout_s=5.0)
    # NOTE: `info` loads the driver through libnvidia-container; on a wedged GPU it hangs
    # ("driver error: timed out", doctor-anchors F31), hence its own timeout.
    yield ctx.run("nvidia-container-cli", "info", timeout_s=10.0)
    yield Value(
        name="container_toolkit_paths",
        data={
            "search_path": search_dirs(ctx),
            "found": {name: lookup_executable(ctx, name) for name in TOOLKIT_COMMANDS + HOOK_BINARIES},
        },
    )
    yield Value(name="nvidia_driver_markers", data={p: ctx.sysroot.exists(p) for p in DRIVER_MARKERS})
