"""Parser for ``ldconfig -p`` (the dynamic loader cache)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gpucheck.diagnose.parse.errors import ParseError

_ENTRY = re.compile(r"^\s+(\S+)\s+\(([^)]*)\)\s+=>\s+(\S.*?)\s*$")


@dataclass(frozen=True, slots=True)
class CachedLibrary:
    """One entry of the loader cache."""

    soname: str
    """The name looked up, e.g. ``libcudart.so.12``."""
    flags: str
    """``libc6,x86-64`` and the like."""
    path: str
    """Where it resolves."""


def parse_ldconfig(text: str) -> tuple[CachedLibrary, ...]:
    """Entries of ``ldconfig -p`` output; ``ParseError`` when the text is not that output."""
    lines = text.splitlines()
    if not lines or not re.match(r"^\d+ libs found in cache", lines[0].strip()):
        raise ParseError("not ldconfig -p output (no 'N libs found in cache' line)")
    entries = []
    for line in lines[1:]:
        match = _ENTRY.match(line)
        if match:
            entries.append(CachedLibrary(match.group(1), match.group(2), match.group(3)))
    return tuple(entries)
