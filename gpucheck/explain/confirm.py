"""Live confirmation: run the doctor checks that decide between the candidate causes, on this machine.

A cause is ``confirmed`` when one of its checks fails or warns here, ``ruled_out`` when every one of its
checks ran and passed, and ``undecided`` otherwise (skipped, errored, or not run). Confirmed causes move to
the top; their fix becomes the failing finding's remediation, which doctor renders for this host.
"""

from __future__ import annotations

from collections.abc import Sequence

from gpucheck.collect.evidence import Evidence
from gpucheck.diagnose.finding import Finding, Report
from gpucheck.diagnose.host import detect_host
from gpucheck.diagnose.inventory import driver_info
from gpucheck.diagnose.registry import UnknownSelectionError, select_checks
from gpucheck.explain.catalogue import Cause
from gpucheck.explain.engine import CheckResult, Explanation, RankedCause, Verdict
from gpucheck.explain.facts import cite, first
from gpucheck.explain.fixes import fix_for
from gpucheck.pipeline import DoctorOptions, doctor

CONFIRMED_BONUS = 1.0
"""Score added to a confirmed cause, so that causes confirmed here lead."""


def _result(finding: Finding) -> CheckResult:
    return CheckResult(finding.check, finding.status.value, finding.summary, finding.remediation)


def _confirming(findings: Sequence[Finding], cause: Cause) -> list[Finding]:
    """The failing or warning findings that confirm this cause (with its confirm words, when it has some)."""
    failing = [f for f in findings if f.status.value in ("fail", "warn")]
    if cause.confirm:
        # NOTE: what the check found (its summary), not its remediation, which may name other causes' tools
        failing = [f for f in failing if any(word in f.summary.lower() for word in cause.confirm)]
    return failing


def _verdict(findings: Sequence[Finding], cause: Cause) -> Verdict:
    if _confirming(findings, cause):
        return Verdict.CONFIRMED
    ran = {f.check for f in findings if f.status.value == "pass"}
    if cause.checks and all(c in ran for c in cause.checks):
        return Verdict.RULED_OUT
    return Verdict.UNDECIDED


def apply_report(explanation: Explanation, report: Report) -> None:
    """Give each cause its verdict from doctor's findings and re-rank: confirmed, undecided, ruled out.

    Failing findings that confirm no candidate are kept as ``other_findings``: doctor found them while
    deciding, and they may be the real story.
    """
    by_check: dict[str, list[Finding]] = {}
    for finding in report.findings:
        by_check.setdefault(finding.check, []).append(finding)
    used: set[tuple[str, str]] = set()
    for cause in explanation.causes:
        findings = [f for c in cause.cause.checks for f in by_check.get(c, [])]
        cause.findings = [_result(f) for f in findings]
        cause.verdict = _verdict(findings, cause.cause) if cause.cause.checks else Verdict.UNDECIDED
        if cause.verdict is Verdict.CONFIRMED:
            confirming = _confirming(findings, cause.cause)
            used.update((f.check, f.summary) for f in confirming)
            cause.confirming = [_result(f) for f in confirming]
            cause.score += CONFIRMED_BONUS
            checks = ", ".join(dict.fromkeys(f"{f.check} ({f.status.value})" for f in confirming))
            cause.reasons.insert(0, f"confirmed on this machine by {checks}")
    explanation.other_findings = [
        CheckResult(f.check, f.status.value, f.summary, f.remediation)
        for f in report.findings
        if f.status.value in ("fail", "warn", "error") and (f.check, f.summary) not in used
    ]
    order = {Verdict.CONFIRMED: 0, Verdict.UNDECIDED: 1, Verdict.NOT_CHECKED: 1, Verdict.RULED_OUT: 2}
    explanation.causes.sort(key=lambda c: (order[c.verdict], -round(c.score, 6)))
    explanation.mode = "live"


def confirm(
    explanation: Explanation,
    *,
    sysroot: str = "/",
    skip: Sequence[str] = (),
    timeout_s: float | None = None,
    python: str = "",
) -> None:
    """Run the deciding checks through doctor's own pipeline and apply their verdicts."""
    checks = [c for rc in explanation.causes for c in rc.cause.checks]
    checks = list(dict.fromkeys(checks))
    if not checks:
        explanation.mode = "live"
        return
    try:
        selected = {c.id for c in select_checks(checks, skip)}
    except UnknownSelectionError as exc:
        explanation.doctor_error = str(exc)
        return
    only = [c for c in checks if c in selected]
    if not only:  # every deciding check was skipped: nothing to run (an empty --only would run them all)
        apply_report(explanation, Report(findings=()))
        return
    opts = DoctorOptions(sysroot=sysroot, python=python, only=only, skip=tuple(skip), timeout_s=timeout_s)
    report, evidence = doctor(opts)
    explanation.host_note = host_mismatch(explanation, evidence)
    host = detect_host(evidence)
    for cause in explanation.causes:
        cause.host_fix = fix_for(cause.cause.id, host) or cause.host_fix
    apply_report(explanation, report)


def host_mismatch(explanation: Explanation, evidence: Evidence) -> str:
    """A note when this machine's driver is not the one the text shows (explain run on another machine?)."""
    pasted = first(explanation.facts, "driver.version")
    if pasted is None or not any(name in evidence.collectors for name in ("nvml", "nvidia_smi")):
        return ""  # the text shows no driver, or the deciding checks did not probe this one
    here = driver_info(evidence)
    if here.version == pasted.value:
        return ""
    shown = f"driver {here.version}" if here.version else "no NVIDIA driver"
    return (
        f"The text shows driver {cite(pasted)}, but this machine has {shown}: if the error happened "
        "elsewhere, these verdicts are about the wrong machine; run with --offline, or on that machine."
    )


def top(explanation: Explanation) -> RankedCause | None:
    """The cause explain leads with."""
    identified = explanation.identified
    return identified[0] if identified else None
