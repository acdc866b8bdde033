"""Evidence source: where the CUDA libraries are (the loader cache, LD_LIBRARY_PATH, the usual directories).

Command line equivalent: ``ldconfig -p``; ``cat /etc/ld.so.conf /etc/ld.so.conf.d/*.conf``;
``ls $LD_LIBRARY_PATH/libcu* /usr/local/cuda*/lib64/libcudart* /usr/lib/x86_64-linux-gnu/libcud*``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from gpucheck.collect.evidence import Item, Value
from gpucheck.collect.registry import CollectContext, collector

LIBRARY_PATTERNS = ("libcudart.so*", "libcudnn.so*", "libcuda.so*", "libnvidia-ml.so*")
COMMON_DIRS = (
    "/usr/local/cuda*/lib64",
    "/usr/local/cuda*/lib",
    "/usr/local/cuda*/targets/*/lib",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/cuda*/compat",
)
LD_SO_CONF_GLOB = "/etc/ld.so.conf.d/*.conf"
"""The loader's configured directories: what ``ldconfig`` caches (read where ``ldconfig -p`` cannot run)."""
LDCONFIG_ARGVS = (("ldconfig", "-p"), ("/sbin/ldconfig", "-p"), ("/usr/sbin/ldconfig", "-p"))
"""``ldconfig`` lives in /sbin, which is not on an ordinary user's PATH."""


def library_globs(ld_library_path: str) -> list[str]:
    """The glob patterns searched: every LD_LIBRARY_PATH entry and common directory × each library."""
    dirs = [d for d in ld_library_path.split(os.pathsep) if d] + list(COMMON_DIRS)
    return [os.path.join(d, p) for d in dict.fromkeys(dirs) for p in LIBRARY_PATTERNS]


@collector("libraries", timeout_s=5.0)
def collect_libraries(ctx: CollectContext) -> Iterable[Item]:
    """The loader cache (``ldconfig -p``) and config; CUDA libraries on LD_LIBRARY_PATH and common dirs."""
    if ctx.sysroot.root in ("", "/"):
        for argv in LDCONFIG_ARGVS:
            run = ctx.run(*argv, timeout_s=3.0)
            yield run
            if not run.not_found:
                break
    ld_library_path = ctx.env.get("LD_LIBRARY_PATH", "")
    for conf in ("/etc/ld.so.conf", *ctx.glob(LD_SO_CONF_GLOB).entries):
        yield ctx.read(conf)
    globs = library_globs(ld_library_path)
    yield Value(name="library_search", data={"LD_LIBRARY_PATH": ld_library_path, "globs": globs})
    for pattern in globs:
        listing = ctx.glob(pattern)
        if listing.entries:
            yield listing
