"""Evidence source: every CUDA toolkit (``nvcc``) on PATH and in the usual install locations.

Command line equivalent: ``which -a nvcc``; ``ls -d /usr/local/cuda*``; ``<nvcc> --version`` and
``cat <toolkit>/version.json`` for each one found, including ``$CUDA_HOME`` and ``$CUDA_PATH``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from gpucheck.collect.evidence import Item, Value
from gpucheck.collect.registry import CollectContext, collector

TOOLKIT_GLOB = "/usr/local/cuda*"
EXTRA_ROOTS = ("/opt/cuda", "/usr/lib/nvidia-cuda-toolkit")
"""Arch Linux's and Debian's ``nvidia-cuda-toolkit`` install locations."""
HOME_VARIABLES = ("CUDA_HOME", "CUDA_PATH", "CUDA_ROOT")
NVCC_TIMEOUT_S = 5.0


def _candidates(ctx: CollectContext) -> list[dict[str, object]]:
    """Every nvcc location, PATH entries first (in PATH order), then the variables, then install dirs."""
    found: list[dict[str, object]] = []
    seen: set[str] = set()

    def add(nvcc: str, origin: str) -> None:
        if nvcc in seen:
            return
        seen.add(nvcc)
        exists = ctx.sysroot.is_executable(nvcc)
        if exists or origin in HOME_VARIABLES:
            realpath = ctx.sysroot.realpath(nvcc) if exists else nvcc
            found.append({"nvcc": nvcc, "origin": origin, "exists": exists, "realpath": realpath})

    for directory in ctx.env.get("PATH", "").split(os.pathsep):
        if directory:
            add(os.path.join(directory, "nvcc"), "PATH")
    for name in HOME_VARIABLES:
        if ctx.env.get(name):
            add(os.path.join(ctx.env[name], "bin", "nvcc"), name)
    for root in (*ctx.glob(TOOLKIT_GLOB).entries, *EXTRA_ROOTS):
        add(os.path.join(root, "bin", "nvcc"), "install-dir")
    return found


@collector("toolkit", timeout_s=10.0)
def collect_toolkits(ctx: CollectContext) -> Iterable[Item]:
    """Nvcc candidates, their ``--version`` banners, and each toolkit's version.json / version.txt."""
    candidates = _candidates(ctx)
    yield Value(name="nvcc_candidates", data=candidates)
    yield ctx.glob(TOOLKIT_GLOB)
    roots: list[str] = []
    ran: set[str] = set()
    for cand in candidates:
        nvcc, realpath = str(cand["nvcc"]), str(cand["realpath"])
        for root in (os.path.dirname(os.path.dirname(realpath)), os.path.dirname(os.path.dirname(nvcc))):
            if root not in roots:
                roots.append(root)
        # NOTE: binaries inside a --sysroot tree belong to another system; only their files are read.
        if cand["exists"] and realpath not in ran and ctx.sysroot.root in ("", "/"):
            ran.add(realpath)
            yield ctx.run(nvcc, "--version", timeout_s=NVCC_TIMEOUT_S)
    for root in roots:
        yield ctx.read(os.path.join(root, "version.json"))
        yield ctx.read(os.path.join(root, "version.txt"))
