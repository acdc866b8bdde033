"""The console report: one rich table grouped by layer, then a summary line."""

from __future__ import annotations

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from gpucheck.collect.evidence import CommandRun, DirListing, Evidence, FileRead, Item, Value
from gpucheck.diagnose.finding import Report, Status
from gpucheck.diagnose.registry import LAYERS
from gpucheck.report.theme import STATUS_LABEL, THEME, status_style
from gpucheck.report.untrusted import plain, visible

EVIDENCE_LINES = 12
"""Lines of output shown per evidence item with ``--verbose``."""


def render_console(
    report: Report, console: Console, *, verbose: bool = False, evidence: Evidence | None = None
) -> None:
    """Print the findings table and the summary line."""
    table = Table(show_header=True, header_style="bold", expand=True, pad_edge=False, box=box.SIMPLE_HEAD)
    table.add_column("Status", no_wrap=True, width=6)
    widest = max((len(f.check) for f in report.findings), default=10)
    table.add_column("Check", style="finding.check", overflow="fold", min_width=min(widest, 32))
    table.add_column("Finding and fix", ratio=1)
    layers = list(LAYERS)
    current = None
    for finding in sorted(report.findings, key=lambda f: layers.index(f.layer) if f.layer in layers else 99):
        if finding.layer != current:
            current = finding.layer
            table.add_row("", Text(LAYERS.get(current, current), style="layer.heading"), "")
        cell = [plain(finding.summary)]  # NOTE: summaries quote probe output: control characters made visible
        if finding.remediation:
            fix = visible(finding.remediation)
            cell.append(Text("fix: ", style="finding.fix-label").append(fix, style="finding.fix"))
        if verbose and evidence is not None and finding.evidence:
            cell.extend(_evidence_text(evidence.get(k), k) for k in finding.evidence)
        table.add_row(
            Text(STATUS_LABEL[finding.status], style=status_style(finding.status)),
            plain(finding.check),  # NOTE: a str cell is parsed as markup; a replayed check id is untrusted
            Group(*cell),
        )
    with console.use_theme(THEME):
        console.print(table)
        console.print(summary_line(report), style="summary.line")


def summary_line(report: Report) -> str:
    """``3 passed, 1 warning, 2 failed, 1 skipped, 0 errors in 0.42 s`` style summary."""
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


def _evidence_text(item: Item | None, key: str) -> Text:
    text = Text("  ↳ ", style="evidence.key")
    text.append(key, style="evidence.key")
    if item is None:
        return text.append("  (not collected)", style="evidence.text")
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
    shown = body[:EVIDENCE_LINES] + (
        [f"… {len(body) - EVIDENCE_LINES} more lines"] if len(body) > EVIDENCE_LINES else []
    )
    for line in shown:
        text.append("\n    " + visible(line[:300]), style="evidence.text")
    return text
