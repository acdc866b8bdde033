"""The image matrix: which CUDA × Ubuntu × flavour × framework × Python combinations exist and what they pin.

Every pinned value here has a source noted beside it; nothing is guessed. Ubuntu's Python is the one its
release ships (22.04 → 3.10, 24.04 → 3.12): installing another interpreter would need a third-party archive
or an unpinned download, so other combinations are refused with the reason.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from gpucheck.knowledge import load

FLAVOURS = ("base", "runtime", "devel")
FRAMEWORKS = ("none", "torch", "tensorflow")

# The pins live in the knowledge table gpucheck/knowledge/images.toml, each with its source.
_PINS = load.image_pins()
UBUNTU_PYTHON = dict(_PINS.ubuntu_python)
"""The python3 each Ubuntu release ships."""
APT_PINS: dict[str, dict[str, str]] = {k: dict(v) for k, v in _PINS.apt_pins.items()}
"""Exact `=` pins for the interpreter and pip (hadolint DL3008)."""
TORCH_FOR_CUDA = dict(_PINS.torch_for_cuda)
"""The PyPI torch release whose Linux wheel's CUDA minor matches each CUDA base."""
TENSORFLOW_VERSION = _PINS.tensorflow_version


class MatrixError(ValueError):
    """A combination that cannot be built, with the reason."""


@dataclass(frozen=True)
class ImageSpec:
    """One image of the matrix."""

    cuda: str
    """Full CUDA version of the base tag, e.g. ``12.4.1``."""
    ubuntu: str
    flavour: str
    framework: str
    python: str

    @property
    def cuda_minor(self) -> str:
        """``12.4`` for ``12.4.1``."""
        return ".".join(self.cuda.split(".")[:2])

    @property
    def base_tag(self) -> str:
        """The nvidia/cuda tag this image starts from."""
        return f"nvidia/cuda:{self.cuda}-{self.flavour}-ubuntu{self.ubuntu}"

    @property
    def name(self) -> str:
        """A file-name-safe identifier, e.g. ``cuda12.4.1-runtime-ubuntu22.04-torch-py3.10``."""
        return f"cuda{self.cuda}-{self.flavour}-ubuntu{self.ubuntu}-{self.framework}-py{self.python}"

    @property
    def framework_version(self) -> str:
        """The pinned framework version ('' for none)."""
        if self.framework == "torch":
            return TORCH_FOR_CUDA[self.cuda_minor]
        return TENSORFLOW_VERSION if self.framework == "tensorflow" else ""

    @property
    def lock_name(self) -> str:
        """The Python lock file (under gpucheck/images/data/) this image installs with --require-hashes."""
        version = f"-{self.framework_version}" if self.framework_version else ""
        return f"requirements-{self.framework}{version}-py{self.python}.txt"


def validate(spec: ImageSpec) -> ImageSpec:
    """Return ``spec`` when it can be built; raise MatrixError saying why not otherwise."""
    if spec.flavour not in FLAVOURS:
        raise MatrixError(f"unknown flavour {spec.flavour!r}: choose from {', '.join(FLAVOURS)}")
    if spec.framework not in FRAMEWORKS:
        raise MatrixError(f"unknown framework {spec.framework!r}: choose from {', '.join(FRAMEWORKS)}")
    if spec.ubuntu not in UBUNTU_PYTHON:
        raise MatrixError(f"Ubuntu {spec.ubuntu} has no pins: choose from {', '.join(UBUNTU_PYTHON)}")
    if UBUNTU_PYTHON[spec.ubuntu] != spec.python:
        raise MatrixError(
            f"Ubuntu {spec.ubuntu} ships Python {UBUNTU_PYTHON[spec.ubuntu]}, not {spec.python}: "
            f"use --python {UBUNTU_PYTHON[spec.ubuntu]}"
        )
    if spec.framework == "torch" and spec.cuda_minor not in TORCH_FOR_CUDA:
        known = ", ".join(TORCH_FOR_CUDA)
        raise MatrixError(f"no PyPI torch wheel is pinned for CUDA {spec.cuda_minor}: choose CUDA {known}")
    return spec


def expand(
    cudas: Iterable[str],
    ubuntus: Iterable[str],
    flavours: Iterable[str],
    frameworks: Iterable[str],
    pythons: Iterable[str] = (),
) -> list[ImageSpec]:
    """Every valid combination of the given axes, sorted; an empty ``pythons`` means each Ubuntu's own.

    Raises:
        MatrixError: when no combination is valid (the message says why for the first one tried).
    """
    specs, first_error = [], None
    for cuda, ubuntu, flavour, framework in itertools.product(cudas, ubuntus, flavours, frameworks):
        for python in tuple(pythons) or (UBUNTU_PYTHON.get(ubuntu, "?"),):
            try:
                specs.append(validate(ImageSpec(cuda, ubuntu, flavour, framework, python)))
            except MatrixError as exc:
                first_error = first_error or exc
    if not specs:
        raise first_error or MatrixError("the matrix is empty")
    return sorted(set(specs), key=lambda s: s.name)


DEFAULT_PAIRS = _PINS.default_pairs
"""CUDA × Ubuntu pairs of the committed dockerfiles/: an LTS each, with NVIDIA tags that exist for both."""


def default_matrix() -> list[ImageSpec]:
    """The matrix rendered into the committed dockerfiles/ (12 images)."""
    specs: list[ImageSpec] = []
    for cuda, ubuntu in DEFAULT_PAIRS:
        specs += expand([cuda], [ubuntu], ["runtime", "devel"], FRAMEWORKS)
    return sorted(specs, key=lambda s: s.name)
