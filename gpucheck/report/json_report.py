"""The JSON report: a versioned envelope documented by ``gpucheck/schemas/report.schema.json``."""

from __future__ import annotations

import json
from typing import Any

from gpucheck import __version__
from gpucheck.diagnose.finding import Finding, Report, Status

FORMAT = "gpucheck-report"
SCHEMA_VERSION = 1
ENVELOPE_KEYS = frozenset(
    {"format", "schema_version", "gpucheck_version", "status", "exit_code", "counts", "meta", "findings"}
)


def finding_to_json(finding: Finding) -> dict[str, Any]:
    """One finding as a JSON object."""
    return {
        "check": finding.check,
        "layer": finding.layer,
        "title": finding.title,
        "status": finding.status.value,
        "summary": finding.summary,
        "remediation": finding.remediation,
        "evidence": list(finding.evidence),
        "data": finding.data,
        "caused_by": list(finding.caused_by),
    }


def report_to_json(report: Report, *, exit_code: int) -> dict[str, Any]:
    """The whole report as the documented JSON envelope."""
    return {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "gpucheck_version": __version__,
        "status": report.status.value,
        "exit_code": exit_code,
        "counts": {s.value: report.count(s) for s in Status},
        "meta": report.meta,
        "findings": [finding_to_json(f) for f in report.findings],
    }


def render_json(report: Report, *, exit_code: int) -> str:
    """The JSON report as indented text."""
    return json.dumps(report_to_json(report, exit_code=exit_code), indent=2, default=str) + "\n"
