"""Builders of the system facts that several layers share: kernel modules, WSL, nvidia-smi, libraries.

Each is a pure function of ``Evidence``; checks call them through ``facts.of(...)`` so each parses once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from gpucheck.collect.evidence import Evidence
from gpucheck.diagnose.inventory import nvidia_smi_runs
from gpucheck.diagnose.parse.errors import ParseError
from gpucheck.diagnose.parse.ldconfig import parse_ldconfig
from gpucheck.diagnose.parse.nvidia_smi import SmiFailure, classify_failure
from gpucheck.diagnose.parse.proc import KernelFlavour, parse_modules, parse_proc_version


def loaded_modules(evidence: Evidence) -> frozenset[str] | None:
    """The loaded kernel modules; None when /proc/modules was unreadable (containers, no modules)."""
    item = evidence.file("/proc/modules")
    if item is None or item.content is None:
        return None
    try:
        return parse_modules(item.content)
    except ParseError:
        return None


def kernel_flavour(evidence: Evidence) -> KernelFlavour | None:
    """Linux, WSL1 or WSL2 from /proc/version, with /dev/dxg as the tie-breaker for custom WSL2 kernels."""
    item = evidence.file("/proc/version")
    markers = evidence.value("wsl_markers")
    dxg = bool(markers and isinstance(markers.data, dict) and markers.data.get("/dev/dxg"))
    flavour = None
    if item is not None and item.content:
        try:
            flavour = parse_proc_version(item.content).flavour
        except ParseError:
            flavour = None
    if dxg and flavour in (None, KernelFlavour.LINUX):
        return KernelFlavour.WSL2
    return flavour


def is_wsl2(evidence: Evidence) -> bool:
    """Whether we run on a WSL2 kernel."""
    return kernel_flavour(evidence) is KernelFlavour.WSL2


@dataclass(frozen=True, slots=True)
class SmiState:
    """How the first nvidia-smi run went."""

    ran: bool
    """False when nvidia-smi was not collected at all."""
    failure: SmiFailure | None
    """The recognised failure, or None when it answered."""
    message: str
    """The run's failure described in one line (empty when it succeeded)."""
    output: str
    """stdout + stderr, verbatim."""
    evidence_key: str


def smi_state(evidence: Evidence) -> SmiState:
    """The state of ``nvidia-smi`` from its first (CSV query) run."""
    run = nvidia_smi_runs(evidence).get("query")
    if run is None:
        return SmiState(False, None, "", "", "")
    output = run.stdout + run.stderr
    failure = None if run.succeeded else classify_failure(output, run.returncode)
    if not run.ran:
        failure = SmiFailure.OTHER
    return SmiState(True, failure, "" if run.succeeded else run.describe_failure(), output, run.key)


def library_paths(evidence: Evidence) -> tuple[str, ...]:
    """Every CUDA-related library file found: loader cache entries first, then directory globs."""
    paths: list[str] = []
    for run in evidence.with_prefix("cmd:"):
        if getattr(run, "argv", ())[-1:] == ("-p",) and "ldconfig" in run.argv[0] and run.succeeded:
            try:
                paths.extend(entry.path for entry in parse_ldconfig(run.stdout))
            except ParseError:
                continue
    for listing in evidence.with_prefix("dir:"):
        if "libcu" in listing.path or "libnvidia" in listing.path:
            paths.extend(listing.entries)
    return tuple(dict.fromkeys(paths))


def ld_cache_names(evidence: Evidence) -> frozenset[str] | None:
    """File names in the loader cache, or None when ``ldconfig -p`` did not run or failed."""
    for run in evidence.with_prefix("cmd:"):
        if getattr(run, "argv", ())[-1:] == ("-p",) and "ldconfig" in run.argv[0] and run.succeeded:
            try:
                return frozenset(os.path.basename(e.path) for e in parse_ldconfig(run.stdout))
            except ParseError:
                return None
    return None


def ld_conf_dirs(evidence: Evidence) -> dict[str, str]:
    """Directory → the /etc/ld.so.conf(.d) file that lists it (the loader's configured search path)."""
    dirs: dict[str, str] = {}
    for item in evidence.with_prefix("file:/etc/ld.so.conf"):
        for line in (getattr(item, "content", None) or "").splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("/"):
                dirs.setdefault(line.rstrip("/"), item.path)
    return dirs
