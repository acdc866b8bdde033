"""The whole flow of ``gpucheck doctor``: collect → diagnose → (the CLI picks a reporter).

``gather`` runs only the collectors that the selected checks need, and none of a layer ``--skip`` removed;
``diagnose`` is pure and is what ``--replay`` runs on a snapshot taken elsewhere.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gpucheck.collect.evidence import Evidence
from gpucheck.collect.registry import CollectContext, collect
from gpucheck.collect.sysroot import Sysroot
from gpucheck.diagnose.facts import Facts
from gpucheck.diagnose.finding import Report
from gpucheck.diagnose.registry import (
    Check,
    needed_collectors,
    run_checks,
    select_checks,
    unprobed_collectors,
)
from gpucheck.diagnose.stack import assign_causes


@dataclass(frozen=True, slots=True)
class DoctorOptions:
    """What the user asked doctor to look at."""

    sysroot: str = "/"
    python: str = ""
    only: Sequence[str] = ()
    skip: Sequence[str] = ()
    timeout_s: float | None = None
    env: Mapping[str, str] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    """Options for collectors and checks (expectations, container smoke image, ...)."""


def gather(opts: DoctorOptions, checks: Sequence[Check]) -> Evidence:
    """Collect the evidence the given checks need, leaving out the probes of layers ``--skip`` removed."""
    ctx = CollectContext(
        sysroot=Sysroot(opts.sysroot),
        **({"env": dict(opts.env)} if opts.env is not None else {}),
        python=opts.python,
        options=dict(opts.options),
    )
    names = needed_collectors(checks, unprobed_collectors(opts.skip))
    return collect(ctx, names, overall_timeout_s=opts.timeout_s)


def diagnose(
    evidence: Evidence,
    checks: Sequence[Check],
    options: Mapping[str, Any] | None = None,
    unprobed: Mapping[str, str] | None = None,
) -> Report:
    """Run the checks over the evidence, mark consequences ``caused_by`` their roots, and build the report."""
    facts = Facts(evidence, options or {})
    findings = assign_causes(run_checks(checks, facts, unprobed))
    return Report(findings=tuple(findings), meta=dict(evidence.meta))


def doctor(opts: DoctorOptions, replay: Evidence | None = None) -> tuple[Report, Evidence]:
    """Collect (unless replaying a snapshot), diagnose and time the run; return the report and evidence."""
    t0 = time.perf_counter()
    checks = select_checks(opts.only, opts.skip)
    evidence = replay if replay is not None else gather(opts, checks)
    report = diagnose(evidence, checks, opts.options, unprobed_collectors(opts.skip))
    report.meta["duration_s"] = round(time.perf_counter() - t0, 3)
    report.meta["replayed"] = replay is not None
    return report, evidence
