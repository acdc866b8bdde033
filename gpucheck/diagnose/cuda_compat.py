"""Which NVIDIA driver a CUDA version needs, and which CUDA a driver supports.

The facts are the ``cuda_drivers`` knowledge table (``gpucheck/knowledge/cuda_drivers.toml``); the rules are
NVIDIA's (https://docs.nvidia.com/deploy/cuda-compatibility/):

- A driver reports one CUDA version for its whole branch (nvidia-smi's "CUDA Version", NVML's
  cuDriverGetVersion): R550 drivers report 12.4, even 550.40.07, which predates 12.4's GA driver 550.54.14.
  That is the newest CUDA the driver fully supports (``max_cuda_for_driver``).
- Minor-version compatibility (CUDA 11+): code built with any 11.x / 12.x / 13.x toolkit runs on a driver at
  least the major's floor, except what needs the newer driver (notably JIT-compiling PTX from a newer
  toolkit).
- A version past the table is not judged: ``min_driver_for_cuda`` returns ``NewerThanTable`` and ``judge``
  says ``NEWER_THAN_TABLE``.
"""

from __future__ import annotations

import enum

from packaging.version import InvalidVersion, Version

from gpucheck.knowledge import load
from gpucheck.knowledge.load import NewerThanTable

__all__ = [
    "NewerThanTable",
    "Support",
    "cuda_from_driver_api",
    "cuda_release",
    "driver_cuda",
    "driver_fully_supports_cuda",
    "driver_supports_cuda",
    "judge",
    "max_cuda_for_driver",
    "min_driver_for_cuda",
    "min_driver_for_major",
]


class Support(enum.Enum):
    """How a driver runs code built with a CUDA release."""

    FULL = "full"
    MINOR_COMPAT = "minor-version compatibility"
    TOO_OLD = "too old"
    UNKNOWN_DRIVER = "unparseable driver"
    UNKNOWN_CUDA = "unknown CUDA release"
    NEWER_THAN_TABLE = "newer than the table"


def _version(text: object) -> Version | None:
    try:
        return Version(str(text).strip())
    except InvalidVersion:
        return None


def cuda_release(cuda: str) -> str | None:
    """``12.4.131`` / ``12.4`` / ``V12.4`` → ``12.4``; None when it is not a version."""
    return load.release_of(cuda)


def min_driver_for_cuda(cuda: str) -> str | NewerThanTable | None:
    """The driver a CUDA release needs for full support (its GA driver).

    A version between releases (there is no 12.7) needs the next release's driver; past the newest release
    the answer is ``NewerThanTable``; None for nonsense or a release older than the table.
    """
    row = load.cuda_release(cuda)
    return row if row is None or isinstance(row, NewerThanTable) else row.driver


def min_driver_for_major(cuda: str) -> str | None:
    """The oldest driver that runs this CUDA release under minor-version compatibility (CUDA 11+)."""
    release = cuda_release(cuda)
    return load.major_floors().get(int(release.split(".")[0])) if release else None


def judge(driver: str, cuda: str) -> Support:
    """How ``driver`` runs code built with CUDA ``cuda``: fully, by minor-version compatibility, or not."""
    have = _version(driver)
    if have is None:
        return Support.UNKNOWN_DRIVER
    needed = min_driver_for_cuda(cuda)
    if isinstance(needed, NewerThanTable):
        return Support.NEWER_THAN_TABLE
    if needed is None:
        return Support.UNKNOWN_CUDA
    if have >= Version(needed):
        return Support.FULL
    floor = min_driver_for_major(cuda)
    return Support.MINOR_COMPAT if floor is not None and have >= Version(floor) else Support.TOO_OLD


def driver_supports_cuda(driver: str, cuda: str) -> bool:
    """Whether a driver is known to run code built with this CUDA release (fully or by minor compat)."""
    return judge(driver, cuda) in (Support.FULL, Support.MINOR_COMPAT)


def driver_fully_supports_cuda(driver: str, cuda: str) -> bool:
    """Whether the driver is at least the release's own GA driver (no minor-version-compatibility limits)."""
    return judge(driver, cuda) is Support.FULL


def driver_cuda(driver: str) -> str | NewerThanTable | None:
    """The CUDA a driver reports (its branch's), ``NewerThanTable`` past the newest branch, or None."""
    row = load.driver_branch(driver)
    return row if row is None or isinstance(row, NewerThanTable) else row.cuda


def max_cuda_for_driver(driver: str) -> str | None:
    """The newest CUDA a driver fully supports, as nvidia-smi prints it; None when the table cannot say."""
    cuda = driver_cuda(driver)
    return cuda if isinstance(cuda, str) else None


def cuda_from_driver_api(value: int) -> str | None:
    """NVML/``cuDriverGetVersion`` integers (``12040``) → ``12.4``; None for nonsense."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1000:
        return None
    return f"{value // 1000}.{(value % 1000) // 10}"
