"""Which NVIDIA driver a CUDA version needs, and which CUDA a driver supports.

Two rules from NVIDIA (https://docs.nvidia.com/deploy/cuda-compatibility/):

- Each toolkit release ships with a driver; a driver at least that new runs everything the release builds
  (``RELEASE_DRIVERS``: the Linux x86_64 "Toolkit Driver Version" column of the CUDA Toolkit release notes).
- CUDA minor-version compatibility (CUDA 11+): an application built with any 11.x / 12.x / 13.x toolkit
  runs on a driver at least ``MAJOR_FLOORS[major]``, except for features that need the newer driver (notably
  JIT-compiling
  PTX produced by a newer toolkit).

``nvidia-smi``'s "CUDA Version" is the newest release whose driver is not newer than the installed one,
which is
what ``max_cuda_for_driver`` computes.
"""

from __future__ import annotations

from packaging.version import InvalidVersion, Version

RELEASE_DRIVERS: dict[str, str] = {
    "7.0": "346.46", "7.5": "352.31", "8.0": "367.48", "9.0": "384.81", "9.1": "390.46", "9.2": "396.26",
    "10.0": "410.48", "10.1": "418.39", "10.2": "440.33",
    "11.0": "450.51.05", "11.1": "455.23", "11.2": "460.27.03", "11.3": "465.19.01", "11.4": "470.42.01",
    "11.5": "495.29.05", "11.6": "510.39.01", "11.7": "515.43.04", "11.8": "520.61.05",
    "12.0": "525.60.13", "12.1": "530.30.02", "12.2": "535.54.03", "12.3": "545.23.06", "12.4": "550.54.14",
    "12.5": "555.42.02", "12.6": "560.28.03", "12.8": "570.26", "12.9": "575.51.03",
    "13.0": "580.65.06",
}
"""CUDA release (major.minor) → the Linux driver its GA toolkit shipped with (minimum for full support)."""

MAJOR_FLOORS: dict[int, str] = {11: "450.80.02", 12: "525.60.13", 13: "580.65.06"}
"""CUDA major → the oldest driver that runs any minor release of it (minor-version compatibility)."""


def _version(text: str) -> Version | None:
    try:
        return Version(text.strip())
    except (InvalidVersion, AttributeError, TypeError):
        return None


def cuda_release(cuda: str) -> str | None:
    """``12.4.131`` / ``12.4`` / ``V12.4`` → ``12.4``; None when it is not a version."""
    version = _version(cuda.lstrip("Vv")) if isinstance(cuda, str) else None
    if version is None:
        return None
    return f"{version.major}.{version.minor}"


def min_driver_for_cuda(cuda: str) -> str | None:
    """The driver a CUDA release needs for full support (its GA driver), or None for an unknown release.

    A release missing from the table but within a known major needs the driver of the next release listed
    (or, past the table's end, the newest driver listed).
    """
    release = cuda_release(cuda)
    if release is None:
        return None
    if release in RELEASE_DRIVERS:
        return RELEASE_DRIVERS[release]
    major = int(release.split(".")[0])
    same_major = [c for c in RELEASE_DRIVERS if int(c.split(".")[0]) == major]
    if not same_major or Version(release) < min(Version(c) for c in same_major):
        return None
    later = [c for c in same_major if Version(c) > Version(release)]
    return RELEASE_DRIVERS[min(later, key=Version) if later else max(same_major, key=Version)]


def min_driver_for_major(cuda: str) -> str | None:
    """The oldest driver that runs this CUDA release under minor-version compatibility (CUDA 11+)."""
    release = cuda_release(cuda)
    return MAJOR_FLOORS.get(int(release.split(".")[0])) if release else None


def driver_supports_cuda(driver: str, cuda: str) -> bool:
    """Whether a driver runs code built with this CUDA release (fully, or by minor-version compatibility)."""
    have = _version(driver)
    if have is None:
        return False
    for needed in (min_driver_for_cuda(cuda), min_driver_for_major(cuda)):
        floor = _version(needed) if needed else None
        if floor is not None and have >= floor:
            return True
    return False


def driver_fully_supports_cuda(driver: str, cuda: str) -> bool:
    """Whether the driver is at least the release's own GA driver (no minor-version-compatibility limits)."""
    have, needed = _version(driver), min_driver_for_cuda(cuda)
    return have is not None and needed is not None and have >= Version(needed)


def max_cuda_for_driver(driver: str) -> str | None:
    """The newest CUDA release a driver fully supports (what nvidia-smi prints as "CUDA Version")."""
    have = _version(driver)
    if have is None:
        return None
    fitting = [c for c, d in RELEASE_DRIVERS.items() if Version(d) <= have]
    return max(fitting, key=Version) if fitting else None


def cuda_from_driver_api(value: int) -> str | None:
    """NVML/``cuDriverGetVersion`` integers (``12040``) → ``12.4``; None for nonsense."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1000:
        return None
    return f"{value // 1000}.{(value % 1000) // 10}"
