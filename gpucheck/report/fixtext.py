"""Prose wrapping that never cuts a command, a path or a URL.

Findings and remediations are prose with commands in them: backticked spans (```sudo reboot```) and bare
commands at the start of a clause (``sudo systemctl start docker (and ...)``). The console wraps the prose
at spaces only, so a path or URL (one word) is never split; a command with spaces gets its own line, whole,
without backticks, so it can be copied as it is. A word or command longer than the width is printed whole
on its own line: a terminal folds it visually, a pipe or CI log keeps it intact. Nothing is ever elided.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

COMMAND_WORDS = frozenset(
    {
        "apt",
        "apt-get",
        "conda",
        "dkms",
        "dnf",
        "docker",
        "echo",
        "export",
        "gpucheck",
        "ldconfig",
        "modprobe",
        "newgrp",
        "nvidia-ctk",
        "nvidia-smi",
        "pip",
        "pip3",
        "python",
        "python3",
        "sudo",
        "systemctl",
        "uv",
        "wsl",
        "yum",
    }
)
"""Programs whose name, at the start of a clause of a remediation, begins a bare (unbackticked) command."""
CLAUSE_WORDS = frozenset({"then", "or", "run", "Run", "e.g.", "with", "use"})
"""Words after which a clause (and so possibly a bare command) begins."""
_CODE = re.compile(r"`([^`\n]*)`")
_WORD = re.compile(r"\S+")


@dataclass(frozen=True, slots=True)
class Piece:
    """An unbreakable unit of text."""

    text: str
    command: bool = False
    """A command: printed on its own line, whole."""
    glued: bool = False
    """Written right after the previous piece in the source (no space between)."""


def pieces(text: str, *, commands: bool = True) -> list[Piece]:
    """Split prose into unbreakable pieces: words, backticked spans, and (with ``commands``) commands."""
    out: list[Piece] = []
    pos = 0
    for match in _CODE.finditer(text):
        out.extend(_prose(text[pos : match.start()], commands=commands, glued=_glued(text, pos)))
        code = match.group(1).strip()
        if code:
            glued = match.start() > 0 and not text[match.start() - 1].isspace()
            if commands and " " in code:
                out.append(Piece(code, command=True, glued=glued))
            else:
                out.append(Piece(f"`{code}`", glued=glued))
        pos = match.end()
    out.extend(_prose(text[pos:], commands=commands, glued=_glued(text, pos)))
    return _inline_nested(out)


def _inline_nested(items: list[Piece]) -> list[Piece]:
    """Commands inside parentheses are asides: they stay inline (backticked) instead of taking a line."""
    depth, out = 0, []
    for piece in items:
        if piece.command and depth > 0:
            piece = Piece(f"`{piece.text}`", glued=piece.glued)
        elif not piece.command:
            depth = max(0, depth + piece.text.count("(") - piece.text.count(")"))
        out.append(piece)
    return out


def _glued(text: str, pos: int) -> bool:
    return 0 < pos < len(text) and not text[pos].isspace()


def _prose(text: str, *, commands: bool, glued: bool) -> Iterable[Piece]:
    words = [m.group(0) for m in _WORD.finditer(text)]
    first_glued = glued and bool(text) and not text[0].isspace()
    i = 0
    while i < len(words):
        word = words[i]
        if commands and _starts_command(words, i) and not (i == 0 and first_glued):
            lead = word[: len(word) - len(word.lstrip("("))]
            if lead:
                yield Piece(lead, glued=False)
            end, command, tail = _command_run(words, i)
            yield Piece(command, command=True)
            if tail:
                yield Piece(tail, glued=True)
            i = end
            continue
        yield Piece(word, glued=i == 0 and first_glued)
        i += 1


def _starts_command(words: list[str], i: int) -> bool:
    if words[i].lstrip("(") not in COMMAND_WORDS:
        return False
    if i == 0 or words[i].startswith("("):
        return True
    before = words[i - 1]
    return before.endswith((":", ";", "(")) or before in CLAUSE_WORDS


def _command_run(words: list[str], i: int) -> tuple[int, str, str]:
    """The command starting at ``words[i]``: (index after it, its text, trailing punctuation to keep)."""
    taken: list[str] = []
    depth, quote = 0, ""
    for j in range(i, len(words)):
        word = words[j].lstrip("(") if j == i else words[j]
        if j > i and not quote and word.startswith("("):
            return j, " ".join(taken), ""
        for k, ch in enumerate(word):
            if quote:
                quote = "" if ch == quote else quote
            elif ch in "'\"":
                quote = ch
            elif ch in "()":
                depth += 1 if ch == "(" else -1
                if depth < 0:
                    taken.append(word[:k])
                    return j + 1, " ".join(t for t in taken if t).rstrip(",;."), word[k:]
        if not quote and word.endswith((",", ";")):
            taken.append(word[:-1])
            return j + 1, " ".join(taken), word[-1]
        if not quote and word.endswith(".") and (j + 1 == len(words) or words[j + 1][:1].isupper()):
            taken.append(word[:-1])
            return j + 1, " ".join(taken), "."
        taken.append(word)
    return len(words), " ".join(taken), ""


def wrap(
    items: Iterable[Piece], width: int, *, first: str = "", rest: str = "", command_indent: str = "  "
) -> list[str]:
    """Lay pieces out in lines of at most ``width`` columns, breaking only between pieces.

    ``first`` prefixes the first line, ``rest`` the others; commands go on their own lines prefixed with
    ``rest + command_indent``. A piece wider than the line is kept whole.
    """
    lines: list[str] = []
    line, empty, last = first, True, len(first)
    for piece in items:
        if piece.command:
            if not empty:
                lines.append(line)
            lines.append((first if not lines and empty else rest + command_indent) + piece.text)
            line, empty, last = rest, True, len(rest)
            continue
        text = piece.text
        if empty and lines and piece.glued:
            text = text.lstrip(",;.")
            if not text:
                continue
        sep = "" if empty or piece.glued else " "
        trailing = piece.glued and len(text) <= 2  # "," ";" ")" stay with what they follow, past the width
        if not empty and not trailing and len(line) + len(sep) + len(text) > width:
            # a glued piece ("(" written against `cmd`) moves to the next line with the piece before it
            moved = line[last:] if piece.glued and line[:last].strip() else ""
            lines.append(line[:last].rstrip() if moved else line)
            line, sep = rest + moved, ""
        last = len(line) + len(sep) if not (piece.glued and not empty) else last
        line, empty = line + sep + text, False
    if not empty or not lines:
        lines.append(line)
    return lines


def commands_in(text: str) -> list[str]:
    """Every command and URL in a remediation, each as it must appear whole on one printed line."""
    found = [
        p.text.strip("`") for p in pieces(text) if p.command or (p.text.startswith("`") and " " in p.text)
    ]
    urls = (w.strip("`(") for w in text.split())
    return found + [u.rstrip(".,;)`") for u in urls if u.startswith(("http://", "https://"))]
