"""Finding the catalogue's signatures in a text: needle search first, then a bounded regex window.

Cost: each needle is located with ``str.find`` over the whole lower-cased text (linear), at most once per
line; a signature's regex then runs on at most ``WINDOW`` characters around the needle of at most
``MAX_LINES_PER_SIGNATURE`` lines. So the whole scan is linear in the input whatever it contains.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gpucheck.explain.catalogue import Catalogue, Signature
from gpucheck.explain.text import MAX_LINE_CHARS, InputText, quote

WINDOW = 240
"""Characters either side of the needle that a signature's regex sees."""
MAX_LINES_PER_SIGNATURE = 50
"""Lines examined per signature; further occurrences are only counted."""


@dataclass(frozen=True, slots=True)
class Hit:
    """One signature recognised in the text."""

    signature: Signature
    line: int
    """1-based line number of the first occurrence."""
    text: str
    """That line, quoted."""
    fields: Mapping[str, str] = field(default_factory=dict)
    """Named groups of the signature's regex on its first matching line."""
    count: int = 1
    """How many lines hold it (at least; counting stops at ``MAX_LINES_PER_SIGNATURE``)."""
    window: str = ""
    """The bounded stretch of the line around the needle that patterns (and doctor's log parser) may read."""


def _candidate_lines(text: InputText, needle: str, limit: int) -> list[tuple[int, int]]:
    """(line index, column) of the first ``limit`` lines holding ``needle``."""
    found: list[tuple[int, int]] = []
    position = text.lowered.find(needle)
    while position != -1 and len(found) < limit:
        index = text.line_of(position)
        column = position - text.starts[index]
        if column + len(needle) <= MAX_LINE_CHARS:  # past the cap a line is not read
            found.append((index, column))
        next_start = text.starts[index + 1] if index + 1 < len(text.starts) else len(text.lowered)
        position = text.lowered.find(needle, next_start)
    return found


def _window(text: InputText, index: int, column: int, needle: str) -> str:
    line = text.line(index)
    return line[max(0, column - WINDOW) : column + len(needle) + WINDOW]


def _match(signature: Signature, window: str) -> dict | None:
    if signature.regex is None:
        return {}
    match = signature.regex.search(window)
    if match is None:
        return None
    return {k: v.strip() for k, v in match.groupdict().items() if v}


def scan_signature(signature: Signature, text: InputText) -> Hit | None:
    """The signature's hit in the text (first matching line, and how many lines match), or None."""
    candidates = sorted(
        {c for needle in signature.needles for c in _with_needle(text, needle)}, key=lambda c: c[0]
    )
    first: tuple[int, dict, str] | None = None
    count = 0
    for index, column, needle in candidates[:MAX_LINES_PER_SIGNATURE]:
        window = _window(text, index, column, needle)
        fields = _match(signature, window)
        if fields is None:
            continue
        count += 1
        if first is None:
            first = (index, fields, window)
    if first is None:
        return None
    index, fields, window = first
    return Hit(signature, index + 1, quote(text.lines[index]), fields, count, window)


def _with_needle(text: InputText, needle: str) -> list[tuple[int, int, str]]:
    return [(i, c, needle) for i, c in _candidate_lines(text, needle, MAX_LINES_PER_SIGNATURE)]


def scan(catalogue: Catalogue, text: InputText) -> list[Hit]:
    """Every signature found, in order of first appearance."""
    hits = [hit for sig in catalogue.signatures if (hit := scan_signature(sig, text)) is not None]
    return sorted(hits, key=lambda h: h.line)
