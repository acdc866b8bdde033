"""GitHub Actions output: workflow-command annotations and the Markdown job summary.

A ``fail`` or ``error`` finding becomes ``::error title=...::message`` and a ``warn`` ``::warning``, which the
runner turns into annotations on the run's summary page. Values are escaped as the Actions toolkit does
(``escapeData`` / ``escapeProperty`` in actions/toolkit ``packages/core/src/command.ts``): ``%``, CR and LF in
the message; additionally ``:`` and ``,`` in properties. The Markdown report is appended to the file named by
``GITHUB_STEP_SUMMARY`` (https://docs.github.com/en/actions/reference/workflow-commands-for-github-actions).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from gpucheck.diagnose.finding import Finding, Report, Status
from gpucheck.report.markdown import render_markdown

COMMAND = {Status.FAIL: "error", Status.ERROR: "error", Status.WARN: "warning"}
"""Finding status → workflow command; pass and skip findings make no annotation."""
SUMMARY_LIMIT_BYTES = 1024 * 1024
"""GitHub refuses a step summary over 1 MiB (and then shows none), so a longer report is cut."""


def escape_data(text: str) -> str:
    """Escape a workflow command's message."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command's property value (also ``:`` and ``,``, which delimit properties)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(command: str, message: str, properties: Mapping[str, str] | None = None) -> str:
    """One ``::command key=value,...::message`` line."""
    props = ",".join(f"{key}={escape_property(value)}" for key, value in (properties or {}).items())
    return f"::{command}{' ' + props if props else ''}::{escape_data(message)}"


def annotation(finding: Finding) -> str | None:
    """The annotation line for one finding, or None when its status makes none."""
    command = COMMAND.get(finding.status)
    if command is None:
        return None
    message = finding.summary + (f"\nFix: {finding.remediation}" if finding.remediation else "")
    title = f"gpucheck {finding.check}" + (f": {finding.title}" if finding.title else "")
    return workflow_command(command, message, {"title": title})


def render_annotations(report: Report) -> str:
    """Every annotation of the report, worst first, one per line."""
    ordered = sorted(report.findings, key=lambda f: -f.status.severity)
    lines = [line for f in ordered if (line := annotation(f)) is not None]
    return "".join(line + "\n" for line in lines)


def append_step_summary(report: Report, env: Mapping[str, str]) -> Path | None:
    """Append the Markdown report to ``$GITHUB_STEP_SUMMARY``; return the file, or None when it is not set."""
    target = env.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    text = render_markdown(report)
    if len(text.encode("utf-8")) > SUMMARY_LIMIT_BYTES:
        cut = text.encode("utf-8")[: SUMMARY_LIMIT_BYTES - 200].decode("utf-8", "ignore")
        text = cut + "\n\n… report cut to fit GitHub's 1 MiB step-summary limit; see the job log.\n"
    path = Path(target)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text + "\n")
    return path
