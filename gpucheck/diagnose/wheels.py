"""Which framework build fits a host: compiled GPU architectures and the install commands per CUDA.

PyTorch's CUDA builds and their architecture lists come from torch 2.13's own table
(``torch/cuda/__init__.py``: ``PYTORCH_RELEASES_CODE_CC``, x86_64): CUDA 12.6 is built for sm_50 ... sm_90,
CUDA 12.9 / 13.0 / 13.2 for sm_75 ... sm_120. The compatibility rule is NVIDIA's: a cubin built for
``sm_XY`` runs on devices of the same major with minor >= Y (``sm_XYa`` only on X.Y exactly), and PTX for
``compute_XY`` is JIT-compiled for any device of capability >= X.Y.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

TORCH_INDEX = "https://download.pytorch.org/whl"
TORCH_CUDA_BUILDS: dict[str, tuple[str, ...]] = {
    "12.6": ("sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"),
    "12.9": ("sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"),
    "13.0": ("sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"),
    "13.2": ("sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"),
}
"""CUDA release of a PyTorch wheel → the architectures it is compiled for (torch 2.13, x86_64)."""
TF_CUDA_MAJOR = "12"
"""``pip install tensorflow[and-cuda]`` (TensorFlow >= 2.14) pulls CUDA 12 wheels: driver >= 525 needed."""

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


def _release_key(release: str) -> tuple[int, int]:
    major, minor = release.split(".")
    return int(major), int(minor)


def torch_cuda_build_for(driver_cuda: str | None, capabilities: Sequence[str]) -> str | None:
    """The newest PyTorch CUDA build the driver runs whose architectures cover every GPU, or None."""
    limit = _cc(driver_cuda or "")
    if limit is None:
        return None
    fitting = [
        release
        for release, archs in TORCH_CUDA_BUILDS.items()
        if _release_key(release) <= limit and all(arch_list_supports(archs, cc) for cc in capabilities)
    ]
    return max(fitting, key=_release_key) if fitting else None


def oldest_torch_build_for(capabilities: Sequence[str]) -> str | None:
    """The oldest PyTorch CUDA build whose architectures cover every GPU (the smallest driver upgrade)."""
    fitting = [
        r
        for r, archs in TORCH_CUDA_BUILDS.items()
        if all(arch_list_supports(archs, cc) for cc in capabilities)
    ]
    return min(fitting, key=_release_key) if fitting else None


def torch_index_url(release: str) -> str:
    """``12.6`` → ``https://download.pytorch.org/whl/cu126``."""
    return f"{TORCH_INDEX}/cu{release.replace('.', '')}"


def torch_install_command(python: str, release: str, version: str | None = None) -> str:
    """The exact reinstall command for a CUDA build of torch (same version when known)."""
    spec = f"torch=={version.split('+')[0]}" if version else "torch"
    return f"{python} -m pip install --force-reinstall {spec} --index-url {torch_index_url(release)}"


def tf_gpu_install_command(python: str, version: str | None = None, cpu_package: bool = False) -> str:
    """The exact command that replaces a CPU TensorFlow with the CUDA build and its CUDA wheels."""
    spec = f"tensorflow[and-cuda]=={version}" if version else "tensorflow[and-cuda]"
    prefix = f"{python} -m pip uninstall -y tensorflow-cpu && " if cpu_package else ""
    return f"{prefix}{python} -m pip install '{spec}'"
