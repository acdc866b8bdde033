"""Which driver to install for these GPUs and this CUDA: the branch and the kernel-module flavour (WHAT).

The facts come from the knowledge tables (``gpu_generations``, ``cuda_drivers``): Blackwell and Grace
Hopper need the open kernel modules, Maxwell/Pascal/Volta cannot use them and stop at R580.
``render_driver_install`` hands a choice to ``gpucheck.diagnose.advice``, which renders the command for the
host it will run on (package manager, container → on the host, WSL2 → in Windows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gpucheck.diagnose import advice
from gpucheck.diagnose.host import Host
from gpucheck.knowledge import load
from gpucheck.knowledge.load import Architecture, NewerThanTable

TOOLKIT_FAMILIES = ("apt", "dnf", "zypper")
"""Families whose NVIDIA CUDA repository packages each toolkit release as ``cuda-toolkit-X-Y``."""


@dataclass(frozen=True, slots=True)
class DriverChoice:
    """The driver a host should get: the branch, the flavour, and why."""

    branch: int
    open_modules: bool | None
    """True: the open kernel modules (``-open`` packages) are needed; False: the proprietary ones are;
    None: the GPUs are unknown or both flavours drive them (open is NVIDIA's default from R560)."""
    minimum: str | None = None
    """The exact minimum driver version, when a CUDA release asks for one."""
    limits: tuple[str, ...] = ()
    """Why the branch or flavour is constrained, in words (``Pascal's last driver branch is R580``)."""
    gpus_known: bool = False
    """Whether every GPU's architecture was known (else the flavour is a guess the advice must explain)."""


GpuId = tuple[str, str | None] | tuple[str, str | None, int | None]
"""(name, compute capability[, PCI device id]); e.g. ("", None, 0x2B85) from lspci without a driver."""


def _architectures(gpus: Sequence[GpuId]) -> list[tuple[str, Architecture | None, bool]]:
    """(label, architecture, needs open modules as a product) per GPU."""
    found = []
    for gpu in gpus:
        name, capability = gpu[0], gpu[1]
        pci_id = gpu[2] if len(gpu) > 2 else None
        arch = load.architecture_of(capability, pci_id)
        product = load.product_of(name=name, pci_device_id=pci_id)
        label = name or (f"PCI device 10de:{pci_id:04x}" if pci_id is not None else "a GPU")
        found.append((label, arch if isinstance(arch, Architecture) else None, bool(product)))
    return found


def choose_driver(needed: str | None, gpus: Sequence[GpuId] = ()) -> DriverChoice:
    """The driver for ``gpus`` that is at least ``needed`` where it can be.

    ``gpus``: (name, compute capability[, PCI device id]) per GPU; with no driver loaded, lspci's device id
    (``10de:2b85``) still tells the generation. ``needed`` is a driver version (``580.65.06``) or branch
    (``615``), or None for the recommended branch.
    """
    branch = int(needed.split(".")[0]) if needed else load.recommended_branch()
    limits: list[str] = []
    archs = _architectures(gpus)
    capped = [(n, a) for n, a, _ in archs if a is not None and a.last_branch is not None]
    if capped:
        ceiling = min(a.last_branch for _, a in capped if a.last_branch is not None)
        oldest = next(a for _, a in capped if a.last_branch == ceiling)
        if branch > ceiling:
            limits.append(
                f"{oldest.name} GPUs stop at driver branch R{ceiling} (and CUDA {oldest.last_cuda}): a newer "
                "driver does not support them"
            )
            branch, needed = ceiling, None
        elif not needed:
            branch = min(branch, ceiling)
    required = sorted(
        {n for n, a, product in archs if product or (a is not None and a.open_modules == "required")}
    )
    unsupported = sorted({n for n, a, _ in archs if a is not None and a.open_modules == "unsupported"})
    open_modules: bool | None = None
    if required:
        open_modules = True
        limits.append(
            f"{', '.join(required)} need the open kernel modules (the proprietary ones cannot drive them)"
        )
    if unsupported:
        if required:
            limits.append(
                f"{', '.join(unsupported)} cannot use the open modules: no single driver drives all"
            )
        else:
            open_modules = False
    elif archs and not required and all(a is not None for _, a, _ in archs) and branch >= 560:
        open_modules = True
    known = bool(archs) and all(a is not None for _, a, _ in archs)
    minimum = needed if needed and "." in needed else None
    return DriverChoice(branch, open_modules, minimum, tuple(limits), known or bool(required))


def render_driver_install(choice: DriverChoice, host: Host | None = None, why: str = "") -> str:
    """The install command for a choice on this host (``gpucheck.diagnose.advice`` renders it)."""
    host = host if host is not None else Host()
    notes = list(choice.limits)
    if not choice.gpus_known and choice.open_modules is None and not host.wsl2:
        notes.append(
            "Blackwell/Grace Hopper: the `-open` packages; Maxwell–Volta: proprietary, branch ≤ "
            f"R{load.legacy_last_branch()}"
        )
    limits = f" ({'; '.join(notes)})" if notes else ""
    return advice.driver_install(host, str(choice.branch), open_modules=choice.open_modules, why=why + limits)


def toolkit_install(release: str, host: Host | None = None) -> str:
    """The install command for the CUDA ``release`` toolkit (NVIDIA's ``cuda-toolkit-X-Y`` packages)."""
    package = f"cuda-toolkit-{release.replace('.', '-')}"
    return advice.install_packages(
        host if host is not None else Host(), {f: [package] for f in TOOLKIT_FAMILIES}
    )


def describe(choice: DriverChoice) -> str:
    """``driver ≥ 580.65.06 (branch R580, open kernel modules)`` and any limits, for a remediation text."""
    floor = f"≥ {choice.minimum}" if choice.minimum else f"branch R{choice.branch} or newer"
    flavour = {True: ", open kernel modules", False: ", proprietary kernel modules", None: ""}[
        choice.open_modules
    ]
    limits = f" ({'; '.join(choice.limits)})" if choice.limits else ""
    return f"driver {floor}{flavour}{limits}"


def cannot_judge(item: NewerThanTable, what: str) -> str:
    """The sentence for a version gpucheck's tables do not reach, with how to get newer tables."""
    return f"{item.cannot_judge(what)}; upgrade gpucheck for newer tables: `{load.UPGRADE_GPUCHECK}`"
