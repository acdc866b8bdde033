"""Parsers for procfs: ``/proc/driver/nvidia/version``, ``/proc/modules`` and ``/proc/version``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from gpucheck.diagnose.parse.errors import ParseError

_NVRM = re.compile(r"NVRM version:.*?Kernel Module.*?\s(\d+\.\d+(?:\.\d+)?)(?:\s|$)")


@dataclass(frozen=True, slots=True)
class KernelModuleVersion:
    """What the loaded NVIDIA kernel module says about itself."""

    version: str
    """The driver version of the kernel module, e.g. ``550.54.14``."""
    open_modules: bool
    """True for the open-source GPU kernel modules (``Open Kernel Module``)."""


def parse_nvidia_version(text: str) -> KernelModuleVersion:
    """Read ``/proc/driver/nvidia/version`` (``NVRM version: ... Kernel Module  550.54.14``)."""
    match = _NVRM.search(text)
    if match is None:
        raise ParseError("no 'NVRM version: ... Kernel Module <version>' line")
    return KernelModuleVersion(version=match.group(1), open_modules="Open Kernel Module" in text)


def parse_modules(text: str) -> frozenset[str]:
    """The names of the loaded kernel modules (first column of ``/proc/modules``)."""
    names = set()
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 3 or not re.fullmatch(r"[A-Za-z0-9_\-]+", fields[0]) or not fields[1].isdigit():
            raise ParseError(f"not a /proc/modules line: {line[:80]!r}")
        names.add(fields[0].replace("-", "_"))
    return frozenset(names)


class KernelFlavour(str, Enum):
    """What ``/proc/version`` says about the kernel's origin."""

    LINUX = "linux"
    WSL1 = "wsl1"
    WSL2 = "wsl2"


@dataclass(frozen=True, slots=True)
class KernelVersion:
    """The running kernel."""

    release: str
    flavour: KernelFlavour


def parse_proc_version(text: str) -> KernelVersion:
    """Read ``/proc/version``: the kernel release and whether it is a WSL1 or WSL2 kernel.

    Rule (doctor-anchors): ``-WSL2`` or ``microsoft-standard`` ⇒ WSL2; ``-Microsoft`` (WSL1's 4.4.0) ⇒ WSL1.
    """
    match = re.match(r"\s*Linux version (\S+)", text)
    if match is None:
        raise ParseError("not a /proc/version line (no 'Linux version <release>')")
    release = match.group(1)
    lowered = text.lower()
    if "wsl2" in lowered or "microsoft-standard" in lowered:
        flavour = KernelFlavour.WSL2
    elif "microsoft" in lowered:
        flavour = KernelFlavour.WSL1
    else:
        flavour = KernelFlavour.LINUX
    return KernelVersion(release=release, flavour=flavour)
