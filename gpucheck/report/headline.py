"""The one fact that matters for each layer, for the summary line of the console report."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from gpucheck.diagnose.finding import Finding, Status

Facts = Callable[[dict[str, Finding]], str | None]
"""A layer's headline: its findings by check id (first of each id, non-skipped) → a short phrase, or None."""


def _driver(by_id: dict[str, Finding]) -> str | None:
    data = by_id["driver.loaded"].data if "driver.loaded" in by_id else {}
    if not data.get("driver_version"):
        return None
    cuda = f", supports CUDA ≤ {data['cuda_version']}" if data.get("cuda_version") else ""
    return f"driver {data['driver_version']}{cuda}"


def _gpus(by_id: dict[str, Finding]) -> str | None:
    data = by_id["gpu.present"].data if "gpu.present" in by_id else {}
    names = [str(n) for n in data.get("names") or ()]
    if not names:
        return None
    if len(set(names)) == 1:
        return f"{len(names)} × {names[0]}"
    return ", ".join(names)


def _toolkit(by_id: dict[str, Finding]) -> str | None:
    data = by_id["toolkit.nvcc"].data if "toolkit.nvcc" in by_id else {}
    if not data.get("version"):
        return None
    return f"CUDA {data['version']}" + (f" ({data['nvcc']})" if data.get("nvcc") else "")


def _framework(name: str, layer: str) -> Facts:
    def fact(by_id: dict[str, Finding]) -> str | None:
        version = (by_id[f"{layer}.install"].data if f"{layer}.install" in by_id else {}).get("version")
        if not version:
            return None
        cuda = by_id.get(f"{layer}.cuda") or by_id.get(f"{layer}.gpu_libraries")
        count = cuda.data.get("device_count") if cuda is not None else None
        return f"{name} {version}" + (f", {count} CUDA device(s)" if count else "")

    return fact


HEADLINES: dict[str, Facts] = {
    "driver": _driver,
    "gpu": _gpus,
    "toolkit": _toolkit,
    "torch": _framework("PyTorch", "torch"),
    "tensorflow": _framework("TensorFlow", "tensorflow"),
}
"""Layers whose passing headline is built from finding data; the others use their first finding's summary."""


def first_clause(text: str) -> str:
    """The text up to its first top-level ``: `` / ``; `` (outside parentheses and backticks)."""
    depth, code = 0, False
    for i, ch in enumerate(text):
        if ch == "`":
            code = not code
        elif code:
            continue
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        elif ch in ":;" and depth == 0 and text[i + 1 : i + 2] == " ":
            return text[:i]
    return text


def headline(layer: str, findings: Sequence[Finding]) -> str:
    """A passing or skipped layer's fact: from its data where known, else its first finding's summary."""
    shown = [f for f in findings if f.status is not Status.SKIP]
    by_id: dict[str, Finding] = {}
    for f in shown:
        by_id.setdefault(f.check, f)
    fact = HEADLINES[layer](by_id) if layer in HEADLINES else None
    if fact:
        return fact
    first = shown[0] if shown else (findings[0] if findings else None)
    return first_clause(first.summary) if first is not None else ""


def without_asides(text: str) -> str:
    """The text without its top-level parenthesised asides (``(see driver.loaded)``)."""
    out, depth = [], 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return " ".join("".join(out).split())


_TRAILING_PATH = re.compile(r"\s+(?:for|at|in|with|from|under|on)\s+/\S*$")
"""A closing "for /path/to/python" (the details below and ``-v`` still name it)."""


def fit(text: str, width: int) -> str:
    """The first of several ever shorter forms of ``text`` that fits ``width``.

    The forms: the text, its first clause, that clause without asides, and that without a closing path
    ("PyTorch is not installed for /venv/bin/python" → "PyTorch is not installed").

    When none fits, the shortest; the caller wraps it (at spaces: nothing is cut inside a word).
    """
    candidates = [text, first_clause(text)]
    candidates.append(without_asides(candidates[-1]) or candidates[-1])
    candidates.append(_TRAILING_PATH.sub("", candidates[-1]) or candidates[-1])
    for candidate in candidates:
        if len(candidate) <= width:
            return candidate
    return min(candidates, key=len)
