"""Parsers for what Slurm is told about a node's GPUs: ``scontrol show node``, ``gres.conf``, ``slurm.conf``.

Formats (slurm.conf(5), gres.conf(5), scontrol(1)): ``scontrol show node`` prints ``Key=Value`` pairs over
indented lines, where ``OS=``, ``Reason=`` and ``Comment=`` run to the end of their line; a GRES string is a
comma-separated list of ``name[:type][:count][(S:sockets)]``. Config files are ``Key=Value`` words per line
with ``#`` comments; node names and device files use hostlist ranges (``node[01-04,7]``,
``/dev/nvidia[0-3]``). Every pattern here is linear-time: the input is untrusted command output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gpucheck.diagnose.parse.errors import ParseError

MAX_EXPANDED = 4096
"""A hostlist or device range larger than this is refused (no real node has more)."""
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_/]*=")
_REST_OF_LINE = frozenset({"OS", "Reason", "Comment", "Extra"})
_RANGE = re.compile(r"([0-9]+)(?:-([0-9]+))?")


@dataclass(frozen=True, slots=True)
class Gres:
    """One GRES entry: ``gpu:a100:4`` is name ``gpu``, type ``a100``, count 4."""

    name: str
    type: str | None
    count: int


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside brackets and parentheses (``gpu:2(S:0,1),shard:4`` → two parts)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def parse_gres(text: str | None) -> list[Gres]:
    """``gpu:nvidia-rtx-3090:1`` / ``gpu:a40:1(S:0,2)`` / ``gpu:2,shard:8`` / ``(null)`` → entries."""
    if not text or text.strip() in ("(null)", "N/A", "none"):
        return []
    entries = []
    for part in split_top_level(text.strip()):
        part = part.split("(", 1)[0]
        fields = [f for f in part.split(":") if f != "no_consume"]
        if not fields or not fields[0]:
            raise ParseError(f"GRES entry {part!r} has no name")
        count = 1
        if len(fields) > 1 and fields[-1].isdigit():
            count = int(fields.pop())
        elif len(fields) > 1 and re.fullmatch(r"[0-9]+[KMGTP]", fields[-1]):
            raise ParseError(f"GRES entry {part!r}: a count with a unit is not a GPU count")
        entries.append(Gres(fields[0], fields[1] if len(fields) > 1 else None, count))
    return entries


def gpu_count(entries: list[Gres]) -> int:
    """The number of ``gpu`` GRES among the entries."""
    return sum(e.count for e in entries if e.name == "gpu")


def gpu_types(entries: list[Gres]) -> dict[str, int]:
    """GPU type → count (entries without a type left out)."""
    types: dict[str, int] = {}
    for e in entries:
        if e.name == "gpu" and e.type:
            types[e.type] = types.get(e.type, 0) + e.count
    return types


def parse_scontrol_node(text: str) -> dict[str, str]:
    """The first node of ``scontrol show node`` output as ``Key → value``."""
    fields: dict[str, str] = {}
    last: str | None = None
    seen_node = False
    for line in text.splitlines():
        words = line.split()
        i = 0
        while i < len(words):
            word = words[i]
            match = _KEY.match(word)
            if match:
                key, value = word[: match.end() - 1], word[match.end() :]
                if key == "NodeName":
                    if seen_node:
                        return fields
                    seen_node = True
                if key in _REST_OF_LINE:
                    value = " ".join([value, *words[i + 1 :]]).strip()
                    i = len(words)
                fields[key] = value
                last = key
            elif last is not None:
                fields[last] = f"{fields[last]} {word}"
            i += 1
    if not seen_node:
        raise ParseError("no NodeName= in the scontrol output")
    return fields


def parse_tres(text: str | None) -> dict[str, str]:
    """``cpu=8,mem=1M,billing=8,gres/gpu=1`` → ``{"cpu": "8", ..., "gres/gpu": "1"}``."""
    out = {}
    for part in (text or "").split(","):
        key, sep, value = part.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def expand_hostlist(text: str) -> list[str]:
    """``node[01-03,7],gpu1`` → ``node01 node02 node03 node7 gpu1`` (leading zeros kept)."""
    names: list[str] = []
    for part in split_top_level(text):
        open_at = part.find("[")
        if open_at < 0:
            names.append(part)
            continue
        close_at = part.find("]", open_at)
        if close_at < 0:
            raise ParseError(f"unclosed range in {part!r}")
        prefix, ranges, suffix = part[:open_at], part[open_at + 1 : close_at], part[close_at + 1 :]
        for rng in ranges.split(","):
            match = _RANGE.fullmatch(rng.strip())
            if not match:
                raise ParseError(f"bad range {rng!r} in {part!r}")
            low, high = match.group(1), match.group(2) or match.group(1)
            if int(high) < int(low) or int(high) - int(low) + len(names) >= MAX_EXPANDED:
                raise ParseError(f"range {rng!r} in {part!r} is reversed or too large")
            width = len(low) if low.startswith("0") else 0
            names.extend(f"{prefix}{n:0{width}d}{suffix}" for n in range(int(low), int(high) + 1))
    return names


def _config_lines(text: str) -> list[dict[str, str]]:
    """``Key=Value`` words of each non-comment line (keys lower-cased), continuation lines joined."""
    lines, pending = [], ""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        words = {}
        for word in line.split():
            key, sep, value = word.partition("=")
            if sep:
                words[key.lower()] = value
        if words:
            lines.append(words)
    return lines


def _applies(words: dict[str, str], node: str) -> bool:
    names = words.get("nodename")
    return names is None or names == "ALL" or node in expand_hostlist(names)


@dataclass(frozen=True, slots=True)
class GresConf:
    """What gres.conf gives one node: its GPU lines' device files and counts, and any AutoDetect."""

    files: tuple[str, ...]
    count: int
    """GPUs the lines give this node (device files, or ``Count=`` where a line has no File)."""
    types: dict[str, int]
    autodetect: str | None
    """``nvml``/``nvidia``/``rsmi``/``off`` from ``AutoDetect=``, or None."""
    lines: int
    """How many ``Name=gpu`` lines apply to the node."""


def parse_gres_conf(text: str, node: str) -> GresConf:
    """The ``Name=gpu`` lines of gres.conf that apply to ``node`` (no NodeName, or one naming it)."""
    files: list[str] = []
    types: dict[str, int] = {}
    count = 0
    lines = 0
    autodetect = None
    for words in _config_lines(text):
        if "autodetect" in words and _applies(words, node):
            autodetect = words["autodetect"].lower()
        if words.get("name") != "gpu" or not _applies(words, node):
            continue
        lines += 1
        mine = expand_hostlist(words["file"]) if "file" in words else []
        files.extend(mine)
        n = len(mine) if mine else int(words["count"]) if words.get("count", "").isdigit() else 1
        count += n
        if "type" in words:
            types[words["type"]] = types.get(words["type"], 0) + n
    return GresConf(tuple(files), count, types, autodetect, lines)


@dataclass(frozen=True, slots=True)
class SlurmConfNode:
    """What slurm.conf says of one node's GPUs."""

    gres: tuple[Gres, ...]
    gres_types: tuple[str, ...]
    """``GresTypes=`` (``gpu`` must be among them for GPUs to be scheduled)."""
    listed: bool
    """Whether a ``NodeName=`` line names this node."""


def parse_slurm_conf(text: str, node: str) -> SlurmConfNode:
    """``GresTypes=`` and the ``Gres=`` of the last ``NodeName=`` line naming ``node`` (or DEFAULT)."""
    gres_types: tuple[str, ...] = ()
    gres: list[Gres] = []
    listed = False
    for words in _config_lines(text):
        if "grestypes" in words:
            gres_types = tuple(t.strip() for t in words["grestypes"].split(",") if t.strip())
        names = words.get("nodename")
        if names is None:
            continue
        if names == "DEFAULT" or node in expand_hostlist(names):
            listed = listed or names != "DEFAULT"
            if "gres" in words:
                gres = parse_gres(words["gres"])
    return SlurmConfNode(tuple(gres), gres_types, listed)


def parse_device_list(text: str | None) -> list[str]:
    """``0,1`` / ``GPU-uuid,MIG-uuid`` → items; an empty or unset variable gives none."""
    return [p.strip() for p in (text or "").split(",") if p.strip()]
