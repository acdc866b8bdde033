"""Semantic console styles: code names what a thing is, the theme decides how it looks."""

from __future__ import annotations

from rich.theme import Theme

from gpucheck.diagnose.finding import Status

THEME = Theme(
    {
        "status.pass": "green",
        "status.warn": "yellow",
        "status.fail": "bold red",
        "status.skip": "dim",
        "status.error": "bold magenta",
        "layer.heading": "bold cyan",
        "finding.check": "dim",
        "finding.fix": "cyan",
        "finding.fix-label": "bold cyan",
        "evidence.key": "blue",
        "evidence.text": "dim",
        "summary.line": "bold",
    }
)

STATUS_LABEL: dict[Status, str] = {
    Status.PASS: "PASS",
    Status.WARN: "WARN",
    Status.FAIL: "FAIL",
    Status.SKIP: "SKIP",
    Status.ERROR: "ERROR",
}


STATUS_MARK: dict[Status, str] = {
    Status.PASS: "✓",
    Status.WARN: "!",
    Status.FAIL: "✗",
    Status.SKIP: "-",
    Status.ERROR: "?",
}
"""The one-character mark of each status in the console summary (readable without colour)."""


def status_style(status: Status) -> str:
    """The theme style name for a status."""
    return f"status.{status.value}"
