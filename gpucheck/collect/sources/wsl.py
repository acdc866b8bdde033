"""Evidence source: the signs of WSL2 and of its GPU paravirtualisation.

Command line equivalent: ``ls -l /dev/dxg; ls /usr/lib/wsl/lib /usr/lib/wsl/drivers``. The kernel's
``/proc/version`` comes from the procfs source.
"""

from __future__ import annotations

from collections.abc import Iterable

from gpucheck.collect.evidence import Item, Value
from gpucheck.collect.registry import CollectContext, collector

WSL_MARKERS = ("/dev/dxg", "/usr/lib/wsl/lib", "/usr/lib/wsl/drivers", "/proc/sys/fs/binfmt_misc/WSLInterop")


@collector("wsl", timeout_s=2.0)
def collect_wsl(ctx: CollectContext) -> Iterable[Item]:
    """Whether /dev/dxg and /usr/lib/wsl exist, and what the Windows driver put in /usr/lib/wsl/lib."""
    yield Value(name="wsl_markers", data={path: ctx.sysroot.exists(path) for path in WSL_MARKERS})
    yield ctx.listdir("/usr/lib/wsl/lib")
