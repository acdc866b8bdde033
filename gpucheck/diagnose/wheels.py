"""Which framework build fits a host: compiled GPU architectures, and the wheel the driver can run.

The wheel variants and their architecture lists are the ``torch_wheels`` knowledge table; TensorFlow's builds
are ``tf_builds``. The compatibility rule is NVIDIA's: a cubin built for ``sm_XY`` runs on devices of the same
major with minor >= Y (``sm_XYa`` only on X.Y exactly), and PTX for ``compute_XY`` is JIT-compiled for any
device of capability >= X.Y. A wheel runs on a driver that fully supports its CUDA, or, under CUDA
minor-version compatibility, on any driver of its CUDA major's floor (PyTorch's cu126+ wheels on R535/R550).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from packaging.version import Version

from gpucheck.diagnose.cuda_compat import Support, judge, min_driver_for_cuda, min_driver_for_major
from gpucheck.knowledge import load
from gpucheck.knowledge.load import TfBuild, TorchWheel

_ARCH = re.compile(r"^(?P<kind>sm|compute)_(?P<num>\d+)(?P<suffix>[af]?)$")


def _cc(capability: str) -> tuple[int, int] | None:
    match = re.fullmatch(r"(\d+)\.(\d+)", str(capability).strip())
    return (int(match[1]), int(match[2])) if match else None


def arch_runs_on(arch: str, capability: str) -> bool:
    """Whether code for ``arch`` (``sm_86``, ``sm_90a``, ``compute_80``) runs on a ``capability``."""
    match, cc = _ARCH.match(arch.strip()), _cc(capability)
    if match is None or cc is None:
        return False
    num = int(match["num"])
    major, minor = num // 10, num % 10
    if match["kind"] == "compute":
        return cc >= (major, minor)
    if match["suffix"] == "a":
        return cc == (major, minor)
    return cc[0] == major and cc[1] >= minor


def arch_capability(arch: str) -> tuple[int, int] | None:
    """``sm_86`` / ``compute_90a`` → (8, 6) / (9, 0); None for anything else."""
    match = _ARCH.match(arch.strip())
    return (int(match["num"]) // 10, int(match["num"]) % 10) if match else None


def newer_than_build(arch_list: Iterable[str], capability: str) -> bool:
    """Whether the device is newer than every architecture of a build (else it is older or in a gap)."""
    caps = [c for c in (arch_capability(a) for a in arch_list) if c is not None]
    cc = _cc(capability)
    return bool(caps) and cc is not None and cc > max(caps)


def arch_list_supports(arch_list: Iterable[str], capability: str) -> bool:
    """Whether any architecture of a build runs on the device."""
    return any(arch_runs_on(arch, capability) for arch in arch_list)


def sm_name(capability: str) -> str:
    """``12.0`` → ``sm_120``."""
    cc = _cc(capability)
    return f"sm_{cc[0]}{cc[1]}" if cc else capability


@dataclass(frozen=True, slots=True)
class TorchPick:
    """The torch wheel to install, and how the driver runs it."""

    wheel: TorchWheel
    support: Support
    """``FULL``, ``MINOR_COMPAT`` or (for a wheel that needs a driver upgrade) ``TOO_OLD``."""
    full_driver: str | None
    """The driver that fully supports the wheel's CUDA (its release's GA driver)."""
    floor_driver: str | None
    """The oldest driver that runs it at all (its CUDA major's minor-version-compatibility floor)."""

    @property
    def spec(self) -> str:
        """``torch==2.14.*``."""
        return f"torch=={self.wheel.series}.*"


def _covers(wheel: TorchWheel, capabilities: Sequence[str], machine: str) -> bool:
    archs = wheel.archs(machine)
    return bool(archs) and all(arch_list_supports(archs, cc) for cc in capabilities)


def _pick(wheel: TorchWheel, support: Support) -> TorchPick:
    full = min_driver_for_cuda(wheel.cuda)
    return TorchPick(
        wheel, support, full if isinstance(full, str) else None, min_driver_for_major(wheel.cuda)
    )


def torch_wheel_for(
    driver: str | None, capabilities: Sequence[str], machine: str = "x86_64", prefer_series: str | None = None
) -> TorchPick | None:
    """The newest wheel the driver runs whose architectures cover every GPU.

    Newest series first, then newest CUDA; the driver may run it fully or through minor-version compatibility.
    None when no such wheel is known. ``prefer_series`` (the installed release's) is tried first, so a CPU
    build is replaced by the same release's CUDA build when one fits.
    """
    if not driver:
        return None
    wheels = sorted(load.torch_wheels(), key=lambda w: w.series != prefer_series)
    for wheel in wheels:
        if not _covers(wheel, capabilities, machine):
            continue
        support = judge(driver, wheel.cuda)
        if support in (Support.FULL, Support.MINOR_COMPAT):
            return _pick(wheel, support)
    return None


def torch_wheel_after_upgrade(capabilities: Sequence[str], machine: str = "x86_64") -> TorchPick | None:
    """The wheel of the newest series that covers every GPU and needs the oldest driver (smallest upgrade)."""
    covering = [w for w in load.torch_wheels() if _covers(w, capabilities, machine)]
    if not covering:
        return None
    newest = covering[0].series
    cheapest = min((w for w in covering if w.series == newest), key=lambda w: Version(w.cuda))
    return _pick(cheapest, Support.TOO_OLD)


def newer_wheels_lost(
    pick: TorchPick, capabilities: Sequence[str], machine: str = "x86_64"
) -> list[TorchWheel]:
    """Wheels newer than ``pick`` (a newer series or CUDA) that cover the GPUs but need a newer driver."""
    return [
        w
        for w in load.torch_wheels()
        if _covers(w, capabilities, machine)
        and (Version(w.series), Version(w.cuda)) > (Version(pick.wheel.series), Version(pick.wheel.cuda))
    ][:1]


def torch_index_url(variant: str) -> str:
    """``cu126`` → ``https://download.pytorch.org/whl/cu126`` (``cpu`` for the CPU build)."""
    return f"{load.torch_index()}/{variant}"


def torch_install_command(python: str, variant: str, spec: str = "torch") -> str:
    """The exact reinstall command for a torch build (``spec``: ``torch==2.14.*`` or ``torch==2.14.1``)."""
    return f"{python} -m pip install --force-reinstall '{spec}' --index-url {torch_index_url(variant)}"


def tf_build_for_driver(driver: str | None) -> TfBuild | None:
    """The newest TensorFlow build with pip CUDA wheels (``[and-cuda]``) that the driver runs, or None."""
    for build in load.tf_builds():
        if build.and_cuda and (driver is None or driver_runs(driver, build.cuda)):
            return build
    return None


def driver_runs(driver: str, cuda: str) -> bool:
    """Whether the driver runs code built with ``cuda`` (fully or through minor-version compatibility)."""
    return judge(driver, cuda) in (Support.FULL, Support.MINOR_COMPAT)


def tf_gpu_install_command(
    python: str, build: TfBuild | None = None, version: str | None = None, cpu_package: bool = False
) -> str:
    """The exact command that replaces a CPU TensorFlow with a CUDA build and its pip CUDA libraries.

    ``build`` picks the series (``tensorflow[and-cuda]==2.14.*`` for a driver with only CUDA 11); an installed
    ``version`` of that series is kept.
    """
    if build is None:
        spec = "tensorflow[and-cuda]"
    elif version and load.release_of(version) == build.series:
        spec = f"tensorflow[and-cuda]=={version}"
    else:
        spec = f"tensorflow[and-cuda]=={build.series}.*"
    prefix = f"{python} -m pip uninstall -y tensorflow-cpu && " if cpu_package else ""
    return f"{prefix}{python} -m pip install '{spec}'"


def cudnn_pin(build: TfBuild) -> str:
    """The cuDNN wheel spec a TensorFlow build needs, within the major it was built against.

    ``nvidia-cudnn-cu12>=8.9`` would jump to cuDNN 9 for a TensorFlow built against 8.9.
    """
    major = build.cudnn.split(".")[0]
    suffix = build.wheel_suffix or ("cu11" if build.cuda.startswith("11.") else "cu12")
    return f"nvidia-cudnn-{suffix}>={build.cudnn},<{int(major) + 1}"
