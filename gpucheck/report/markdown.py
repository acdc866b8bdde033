"""The report as GitHub-flavoured Markdown: ``--markdown``, the GitHub job summary, pasting into an issue.

Problems (fail, error, warn) come first with their fixes, root causes first and the findings that follow from
each folded under it; every finding follows in a collapsed ``<details>``
block, so a long passing report does not bury the one line that matters.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gpucheck.diagnose.finding import Finding, Report, Status
from gpucheck.diagnose.registry import LAYERS
from gpucheck.report.causes import problems
from gpucheck.report.console import summary_line

STATUS_ICON = {
    Status.PASS: "✅ pass",
    Status.WARN: "⚠️ warn",
    Status.FAIL: "❌ fail",
    Status.SKIP: "⏭️ skip",
    Status.ERROR: "💥 error",
}
"""How each status reads in a Markdown cell (icon for scanning, word for screen readers and grep)."""
HEADLINE = {
    Status.PASS: "passed",
    Status.SKIP: "passed",
    Status.WARN: "passed with warnings",
    Status.ERROR: "could not check everything",
    Status.FAIL: "failed",
}


def cell(text: str) -> str:
    """Text made safe for one GFM table cell: pipes escaped, line breaks as ``<br>``."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r\n", "\n").replace("\n", "<br>")


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A GFM table as lines (cells must already be escaped with ``cell``)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def _ordered(findings: Iterable[Finding]) -> list[Finding]:
    layers = list(LAYERS)
    return sorted(findings, key=lambda f: layers.index(f.layer) if f.layer in layers else len(layers))


def _problem_rows(report: Report) -> list[list[str]]:
    """Root problems down the stack, each followed by the findings that follow from it (marked ↳)."""
    rows = []
    for p in problems(report):
        f = p.finding
        rows.append([STATUS_ICON[f.status], f"`{f.check}`", cell(f.summary), cell(f.remediation) or "—"])
        for c in p.consequences:
            rows.append(
                [
                    f"↳ {STATUS_ICON[c.status]}",
                    f"`{c.check}`",
                    cell(f"{c.summary} (follows from `{f.check}`)"),
                    "fix the line above first",
                ]
            )
    return rows


def render_markdown(report: Report, *, title: str = "gpucheck doctor") -> str:
    """The whole report as Markdown text."""
    host = report.meta.get("hostname")
    lines = [
        f"## {title}: {HEADLINE[report.status]}" + (f" on `{host}`" if host else ""),
        "",
        summary_line(report),
        "",
    ]
    problems = _problem_rows(report)
    if problems:
        lines += ["### Problems", "", *table(["Status", "Check", "Finding", "Fix"], problems), ""]
    rows = [
        [STATUS_ICON[f.status], cell(LAYERS.get(f.layer, f.layer)), f"`{f.check}`", cell(f.summary)]
        for f in _ordered(report.findings)
    ]
    lines += [
        "<details>",
        f"<summary>All {len(rows)} findings</summary>",
        "",
        *table(["Status", "Layer", "Check", "Finding"], rows),
        "",
        "</details>",
        "",
    ]
    return "\n".join(lines)
