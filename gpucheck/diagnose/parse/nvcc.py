"""Parser for ``nvcc --version`` banners (CUDA 7.5 to 13.x).

NOTE: CUDA 11.0 added a ``Build cuda_...`` line after ``V11.0.194``, which broke parsers anchored at the end
of the text (https://github.com/k2-fsa/k2/pull/584); the rule here reads only the ``Cuda compilation tools``
line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gpucheck.diagnose.parse.errors import ParseError

_RELEASE = re.compile(r"^Cuda compilation tools, release (\d+)\.(\d+), V(\d+(?:\.\d+)*)\s*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class NvccVersion:
    """The toolkit release an nvcc belongs to."""

    release: str
    """``major.minor``, e.g. ``12.4``."""
    full: str
    """The full version after ``V``, e.g. ``12.4.131``."""


def parse_nvcc_version(text: str) -> NvccVersion:
    """Read the release from an ``nvcc --version`` banner; ``ParseError`` when there is none."""
    match = _RELEASE.search(text)
    if match is None:
        raise ParseError("no 'Cuda compilation tools, release X.Y, VX.Y.Z' line in nvcc output")
    return NvccVersion(release=f"{int(match.group(1))}.{int(match.group(2))}", full=match.group(3))
