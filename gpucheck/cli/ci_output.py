"""The CI side of ``gpucheck doctor``: expectations from flags and ``--config``, and CI-native output.

Kept apart from ``doctor.py`` so the doctor command only gains its options and two calls.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from rich.console import Console

from gpucheck.ci.config import Expectations, build_expectations, load_config
from gpucheck.ci.detect import CiSystem
from gpucheck.collect.evidence import Evidence
from gpucheck.diagnose.finding import Report
from gpucheck.report.console import render_console
from gpucheck.report.github import append_step_summary, render_annotations
from gpucheck.report.gitlab import wrap_section
from gpucheck.report.theme import THEME


def read_expectations(
    config: Path | None,
    *,
    gpus: int | None,
    gpu_name: str | None,
    driver: str | None,
    cuda: str | None,
    frameworks: Sequence[str],
    mem_gib: float | None,
) -> Expectations:
    """The expectations of the ``--config`` file with the ``--expect-*`` flags laid over them.

    Raises ``ExpectationError`` (a usage error) for an unreadable file or a bad value.
    """
    base = load_config(config) if config is not None else Expectations()
    flags = build_expectations(
        gpus=gpus, gpu_name=gpu_name, driver=driver, cuda=cuda, frameworks=frameworks, mem_gib=mem_gib
    )
    return base.merged(flags)


def emit_github(report: Report, env: Mapping[str, str], *, machine_stdout: bool) -> None:
    """Annotations (to stderr when stdout carries JSON or Markdown) and the job summary.

    NOTE: the runner reads workflow commands from stderr as well as stdout, so moving them off stdout keeps
    ``--json`` output parseable without losing the annotations.
    """
    stream = sys.stderr if machine_stdout else sys.stdout
    stream.write(render_annotations(report))
    stream.flush()
    append_step_summary(report, env)


def emit_gitlab(report: Report, *, verbose: bool, evidence: Evidence, width: int | None = None) -> None:
    """The console report inside a collapsible job-log section (expanded when something failed)."""
    buffer = io.StringIO()
    console = Console(file=buffer, theme=THEME, highlight=False, width=width or Console().width)
    render_console(report, console, verbose=verbose, evidence=evidence)
    end = int(time.time())
    duration = report.meta.get("duration_s")
    start = end - int(duration) if isinstance(duration, (int, float)) else end
    sys.stdout.write(wrap_section(buffer.getvalue(), report, start=start, end=end))


def ci_stdout_taken(ci: CiSystem, *, json_out: bool, markdown: bool) -> bool:
    """Whether the CI output replaces the plain console report (GitLab wraps it in a section)."""
    return ci is CiSystem.GITLAB and not (json_out or markdown)
