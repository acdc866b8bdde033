"""Which driver to install for these GPUs and this CUDA: the branch and the kernel-module flavour (WHAT).

The facts come from the knowledge tables (``gpu_generations``, ``cuda_drivers``): Blackwell and Grace
Hopper need the open kernel modules, Maxwell/Pascal/Volta cannot use them and stop at R580.
``render_driver_install`` turns a choice into the command for an Ubuntu-style host. It is the single place
that spells package names, so the host-specific renderer (``gpucheck.diagnose.advice``, issue 9) can
replace it in one edit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gpucheck.knowledge import load
from gpucheck.knowledge.load import Architecture, NewerThanTable


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


def _architectures(gpus: Sequence[tuple[str, str | None]]) -> list[tuple[str, Architecture | None, bool]]:
    """(name, architecture, needs open modules as a product) per GPU."""
    found = []
    for name, capability in gpus:
        arch = load.architecture_of(capability) if capability else None
        product = load.product_of(name=name)
        found.append((name, arch if isinstance(arch, Architecture) else None, bool(product)))
    return found


def choose_driver(needed: str | None, gpus: Sequence[tuple[str, str | None]] = ()) -> DriverChoice:
    """The driver for ``gpus`` ((name, compute capability) pairs) that is at least ``needed`` where it can be.

    ``needed`` is a driver version (``580.65.06``) or branch (``615``), or None for the recommended branch.
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
    return DriverChoice(branch, open_modules, needed if needed and "." in needed else None, tuple(limits))


def driver_packages(choice: DriverChoice) -> str:
    """The Ubuntu driver package for a choice (``nvidia-driver-580-open``), or both flavours when unknown."""
    if choice.open_modules is True:
        return f"nvidia-driver-{choice.branch}-open"
    if choice.open_modules is False:
        return f"nvidia-driver-{choice.branch}"
    return f"nvidia-driver-{choice.branch}-open"


def render_driver_install(choice: DriverChoice) -> str:
    """The install command for an Ubuntu host, plus a note for other hosts and for unknown GPUs."""
    package = driver_packages(choice)
    text = f"Ubuntu `sudo apt-get install {package} && sudo reboot`"
    if choice.open_modules is None:
        text += (
            f" (open kernel modules, Turing or newer; Maxwell, Pascal and Volta GPUs need "
            f"`nvidia-driver-{min(choice.branch, 580)}`)"
        )
    text += "; other distributions: https://docs.nvidia.com/datacenter/tesla/driver-installation-guide/"
    return text


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
