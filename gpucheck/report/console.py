"""The console report: one line per layer, details only where something needs attention, then the fixes.

Shaped like ``flutter doctor``: ``[✓] CUDA toolkit  CUDA 13.0 (/usr/local/bin/nvcc)`` for each layer; under a
layer with a warning, failure or error its root problems, with the findings that follow from them folded in;
passes and skips are counted, not listed. ``-v`` lists every finding, ``-vv`` adds the evidence. A closing
"To fix, in order:" block lists each distinct fix once, lowest layer first. Every line is laid out here (see
``fixtext``), so commands, paths and URLs are never cut at any width, in a terminal or a pipe; every line is a
rich ``Text`` with control characters made visible (``untrusted.visible``), so no text from the machine is
ever read as markup or obeyed by the terminal.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.text import Text

from gpucheck.collect.evidence import CommandRun, DirListing, Evidence, FileRead, Item, Value
from gpucheck.diagnose.finding import Finding, Report, Status
from gpucheck.diagnose.registry import LAYERS
from gpucheck.report.causes import PROBLEMS, Problem, layer_rank, problems
from gpucheck.report.fixtext import pieces, wrap
from gpucheck.report.headline import fit, headline
from gpucheck.report.theme import STATUS_MARK, THEME, status_style
from gpucheck.report.untrusted import visible

EVIDENCE_LINES = 12
"""Lines of output shown per evidence item with ``-vv``."""
HEADING_WIDTH = 13
"""Layer headings are padded to this width (a longer one just pushes its fact right)."""
DETAIL = "    "
"""Indent of the findings under a layer line."""


class _Lines:
    """Lines of styled text laid out for one width."""

    def __init__(self, width: int) -> None:
        self.width = max(width, 40)
        self.out: list[Text] = []

    def add(self, text: str, style: str = "", *, prefix: Text | None = None) -> None:
        line = (prefix.copy() if prefix else Text()).append(visible(text), style=style)
        self.out.append(line)

    def prose(self, text: str, first: str, rest: str, style: str = "", *, commands: bool = False) -> None:
        for line in wrap(pieces(text, commands=commands), self.width, first=first, rest=rest):
            self.add(line, style)


def render_console(
    report: Report, console: Console, *, verbose: int | bool = 0, evidence: Evidence | None = None
) -> None:
    """Print the layer summary, the problems, the numbered fixes and the closing count."""
    level = int(verbose)
    lines = _Lines(console.width)
    roots = problems(report)
    fixes = _fix_numbers(roots)
    folded = {id(c): p.finding for p in roots for c in p.consequences}
    layers = sorted({f.layer for f in report.findings}, key=layer_rank)
    heading_width = min(HEADING_WIDTH, max((len(LAYERS.get(x, x)) for x in layers), default=0))
    for layer in layers:
        own = [f for f in report.findings if f.layer == layer]
        layer_roots = [p for p in roots if p.finding.layer == layer]
        fact = _layer_line(lines, layer, own, layer_roots, folded, heading_width)
        if level >= 1:
            by_root = {id(p.finding): p for p in layer_roots}
            for f in sorted(own, key=lambda f: -f.status.severity if f.status in PROBLEMS else 0):
                _finding(lines, f, fixes, folded, level=level, evidence=evidence)
                if id(f) in by_root:
                    _folded(lines, by_root[id(f)])
        else:
            for p in sorted(layer_roots, key=lambda p: -p.finding.status.severity):
                _finding(lines, p.finding, fixes, folded, level=level, evidence=evidence, shown=fact)
                _folded(lines, p)
                fact = ""
    _fix_block(lines, fixes)
    _closing(lines, report, roots)
    with console.use_theme(THEME):
        for line in lines.out:
            console.print(line, soft_wrap=True, highlight=False)


def _layer_line(
    lines: _Lines,
    layer: str,
    own: Sequence[Finding],
    layer_roots: Sequence[Problem],
    folded: dict[int, Finding],
    heading_width: int,
) -> str:
    heading = LAYERS.get(layer, layer)
    room = lines.width - max(heading_width, len(heading)) - 6
    consequences = [f for f in own if id(f) in folded]
    if layer_roots:
        worst = max(layer_roots, key=lambda p: p.finding.status.severity).finding
        status, fact = worst.status, fit(worst.summary, room)
    elif consequences:
        root = folded[id(consequences[0])]
        status, fact = Status.SKIP, f"follows from {root.check} ({LAYERS.get(root.layer, root.layer)})"
    else:
        status = Status.PASS if any(f.status is Status.PASS for f in own) else Status.SKIP
        fact = fit(headline(layer, own), room)
        if len(fact) > room:
            # NOTE: a layer with nothing to fix takes one line; its findings are one -v away.
            counts = {s: sum(f.status is s for f in own) for s in (Status.PASS, Status.SKIP)}
            fact = ", ".join(_count(n, s) for s, n in counts.items() if n)
    prefix = Text(f"[{STATUS_MARK[status]}] ", style=status_style(status))
    prefix.append(heading.ljust(heading_width) + "  ", style="layer.heading")
    pad = " " * len(prefix)
    body = wrap(pieces(fact, commands=False), lines.width, first=pad, rest=pad)
    lines.add(body[0][len(pad) :], prefix=prefix)
    for extra in body[1:]:
        lines.add(extra)
    return fact


def _finding(
    lines: _Lines,
    f: Finding,
    fixes: dict[str, int],
    folded: dict[int, Finding],
    *,
    level: int,
    evidence: Evidence | None,
    shown: str = "",
) -> None:
    """A finding under its layer line; ``shown`` is the part of its summary the layer line already says."""
    mark = Text(f"{DETAIL}{STATUS_MARK[f.status]} ", style=status_style(f.status))
    note = ""
    if id(f) in folded:
        note = f" (follows from {folded[id(f)].check})"
    elif f.remediation in fixes and f.status in PROBLEMS:
        note = f" → fix {fixes[f.remediation]}"
    summary = f.summary
    if shown and summary.startswith(shown):
        summary = summary[len(shown) :].lstrip(":; ")
    text = f"{f.check}: {summary}{note}" if summary else f"{f.check}{note}"
    body = wrap(pieces(text, commands=False), lines.width, first=" " * len(mark), rest=DETAIL + "  ")
    lines.add(body[0][len(mark) :], prefix=mark)
    for extra in body[1:]:
        lines.add(extra)
    timings = f.data.get("timings") if level >= 1 else None
    if isinstance(timings, dict) and timings:
        steps = ", ".join(f"{k} {v:.2f}s" for k, v in timings.items() if isinstance(v, (int, float)))
        lines.prose(f"time: {steps}", DETAIL + "  ", DETAIL + "    ", "evidence.text")
    if level >= 2 and evidence is not None:
        for key in f.evidence:
            _evidence(lines, evidence.get(key), key)


def _folded(lines: _Lines, p: Problem) -> None:
    if not p.consequences:
        return
    names = ", ".join(dict.fromkeys(c.check for c in p.consequences))
    lines.prose(f"↳ follows from it: {names}", DETAIL + "  ", DETAIL + "    ", "finding.check")


def _fix_numbers(roots: Sequence[Problem]) -> dict[str, int]:
    """Each distinct remediation of a root problem, numbered in the order to apply them."""
    numbers: dict[str, int] = {}
    for p in roots:
        if p.finding.remediation and p.finding.remediation not in numbers:
            numbers[p.finding.remediation] = len(numbers) + 1
    return numbers


def _fix_block(lines: _Lines, fixes: dict[str, int]) -> None:
    if not fixes:
        return
    lines.add("To fix, in order:", "finding.fix-label")
    for remediation, number in fixes.items():
        lines.prose(remediation, f"{number:>2}. ", "    ", "finding.fix", commands=True)


def _closing(lines: _Lines, report: Report, roots: Sequence[Problem]) -> None:
    attention = {p.finding.layer for p in roots}
    n = len(attention)
    head = (
        f"{n} layer{'s' if n != 1 else ''} need{'' if n != 1 else 's'} attention" if n else "No issues found"
    )
    order = (Status.FAIL, Status.ERROR, Status.WARN, Status.PASS, Status.SKIP)
    counts = ", ".join(_count(report.count(s), s) for s in order if report.count(s))
    duration = report.meta.get("duration_s")
    tail = f" ({duration:.2f} s)" if isinstance(duration, (int, float)) else ""
    source = ", from a replayed snapshot" if report.meta.get("replayed") else ""
    lines.prose(f"{head}: {counts or 'no findings'}{tail}{source}", "", "", "summary.line")


def _count(n: int, status: Status) -> str:
    word = {Status.FAIL: "failed", Status.WARN: "warned", Status.PASS: "passed", Status.SKIP: "skipped"}
    return f"{n} {word[status]}" if status in word else f"{n} error{'s' if n != 1 else ''}"


def summary_line(report: Report) -> str:
    """``3 passed, 1 warned, 2 failed, 1 skipped, 0 errors in 0.42 s`` style summary."""
    parts = [
        f"{report.count(Status.PASS)} passed",
        f"{report.count(Status.WARN)} warned",
        f"{report.count(Status.FAIL)} failed",
        f"{report.count(Status.SKIP)} skipped",
        f"{report.count(Status.ERROR)} errors",
    ]
    duration = report.meta.get("duration_s")
    tail = f" in {duration:.2f} s" if isinstance(duration, (int, float)) else ""
    source = " (replayed snapshot)" if report.meta.get("replayed") else ""
    return ", ".join(parts) + tail + source


def _evidence(lines: _Lines, item: Item | None, key: str) -> None:
    lines.add(f"{DETAIL}    ↳ {key}", "evidence.key")
    if item is None:
        lines.add(f"{DETAIL}      (not collected)", "evidence.text")
        return
    body: list[str] = []
    if isinstance(item, CommandRun):
        status = item.describe_failure() if not item.succeeded else f"exit 0 in {item.duration_s:.2f} s"
        body = [status, *(item.stdout.strip().splitlines() + item.stderr.strip().splitlines())]
    elif isinstance(item, FileRead):
        body = [item.error] if item.error else (item.content or "").strip().splitlines()
    elif isinstance(item, DirListing):
        body = [item.error] if item.error else list(item.entries)
    elif isinstance(item, Value):
        body = [item.error] if item.error else [str(item.data)]
    for line in body[:EVIDENCE_LINES]:
        lines.add(f"{DETAIL}      {line}", "evidence.text")
    if len(body) > EVIDENCE_LINES:
        lines.add(
            f"{DETAIL}      ({len(body) - EVIDENCE_LINES} more lines in `gpucheck snapshot`)", "evidence.text"
        )
