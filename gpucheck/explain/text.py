"""The input of ``gpucheck explain`` as untrusted text: size-capped, decoded, cleaned, split into lines.

Limits: at most ``MAX_INPUT_BYTES`` are read (the rest is dropped and reported), and each line is looked at
for at most ``MAX_LINE_CHARS`` characters. Terminal colour codes and carriage returns are removed; nothing
in the text is ever interpreted (no markup, no shell, no YAML).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field

MAX_INPUT_BYTES = 16 * 1024 * 1024
"""Inputs beyond 16 MiB are cut there (a log that large is read from its start)."""
MAX_LINE_CHARS = 4096
"""Characters of one line that signatures and parsers look at."""
QUOTE_CHARS = 300
"""Characters of a line quoted in the report."""

_ANSI = re.compile(r"\x1b\[[0-9;?]{0,32}[A-Za-z]")
_QUOTES = (("\u2018", "'"), ("\u2019", "'"), ("\u201c", '"'), ("\u201d", '"'), ("\uff1a", ":"))
"""Typographic quotes (and the full-width colon) forums substitute, mapped for needle search only."""
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
"""C0 and C1 control characters (C1 ``\x9b`` is an 8-bit CSI to some terminals), except tab and newline."""


@dataclass(slots=True)
class InputText:
    """The cleaned text, its lines, and a lower-cased copy for needle search."""

    text: str
    lines: list[str]
    lowered: str
    starts: list[int] = field(default_factory=list)
    """Offset in ``lowered`` where each line starts."""
    size_bytes: int = 0
    truncated: bool = False
    """True when the input was longer than ``MAX_INPUT_BYTES``."""

    def line_of(self, offset: int) -> int:
        """The 0-based index of the line holding ``offset`` of ``lowered``."""
        return bisect_right(self.starts, offset) - 1

    def line(self, index: int) -> str:
        """Line ``index`` (0-based), capped at ``MAX_LINE_CHARS``."""
        return self.lines[index][:MAX_LINE_CHARS]

    def lowered_line(self, index: int) -> str:
        """Line ``index`` of the lower-cased copy, capped likewise."""
        end = self.starts[index + 1] - 1 if index + 1 < len(self.starts) else len(self.lowered)
        return self.lowered[self.starts[index] : min(end, self.starts[index] + MAX_LINE_CHARS)]


def quote(line: str) -> str:
    """A line as quoted in reports: stripped, capped at ``QUOTE_CHARS``."""
    line = line.strip()
    return line if len(line) <= QUOTE_CHARS else line[: QUOTE_CHARS - 1] + "…"


def _decode(raw: bytes) -> str:
    """UTF-8 (undecodable bytes replaced), or UTF-16 when a byte-order mark says so.

    PowerShell 5's ``nvidia-smi > out.txt`` writes UTF-16LE with a byte-order mark.
    """
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        sample = raw[2:402]
        high = sample[1::2] if raw[0] == 0xFF else sample[0::2]  # the bytes that are NUL for ASCII text
        if high and high.count(0) >= 0.6 * len(high):
            return raw.decode("utf-16", "replace")
    return raw.decode("utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "utf-8", "replace")


def clean(raw: bytes | str, *, truncated: bool = False) -> InputText:
    """Decode (UTF-8, undecodable bytes replaced), strip colour codes and control characters, split."""
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "replace"))
    if isinstance(raw, bytes):
        if len(raw) > MAX_INPUT_BYTES:
            raw, truncated = raw[:MAX_INPUT_BYTES], True
        text = _decode(raw)
    else:
        text = raw
        if size > MAX_INPUT_BYTES:
            text, truncated = text[:MAX_INPUT_BYTES], True
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", _ANSI.sub("", text))
    lines = text.split("\n")
    lowered = text.lower()
    for fancy, plain in _QUOTES:
        if fancy in lowered:  # str.replace is linear and fast; str.translate with a table is not
            lowered = lowered.replace(fancy, plain)
    starts = [0]
    position = lowered.find("\n")
    while position != -1:
        starts.append(position + 1)
        position = lowered.find("\n", position + 1)
    if len(starts) != len(lines):  # lower() never adds or removes newlines; keep the invariant explicit
        raise AssertionError("line table out of step with the text")
    return InputText(text, lines, lowered, starts, size, truncated)
