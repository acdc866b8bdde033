"""The finding model: the closed set of statuses, one finding, and the finished report."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Status(str, Enum):
    """The closed set of outcomes of a check.

    - ``pass``: the thing checked is right.
    - ``warn``: it works, but something will bite (slow, fragile, about to break); has a remediation.
    - ``fail``: it is broken for GPU work; has a remediation.
    - ``skip``: the check does not apply here, with the reason (no GPU, framework not installed).
    - ``error``: gpucheck could not tell: a probe crashed, hung or returned something unreadable.
    """

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"

    @property
    def severity(self) -> int:
        """Ordering for summaries: fail > error > warn > skip > pass."""
        return {"pass": 0, "skip": 1, "warn": 2, "error": 3, "fail": 4}[self.value]


@dataclass(frozen=True, slots=True)
class Finding:
    """One answer to one question about the machine."""

    check: str
    """Stable id ``layer.topic`` (``toolkit.nvcc_shadowed``), used by ``--only/--skip``, JSON and JUnit."""
    status: Status
    """One of the closed set of statuses."""
    summary: str
    """What was found, with the numbers, versions and paths."""
    remediation: str = ""
    """The exact command or edit that fixes it; required for ``warn`` and ``fail``."""
    evidence: tuple[str, ...] = ()
    """Keys of the evidence items this finding rests on (shown with ``--verbose``)."""
    data: dict[str, Any] = field(default_factory=dict)
    """Machine-readable facts behind the finding (versions, counts), for CI and fleet reports."""
    title: str = ""
    """The check's one-line title (filled in by the registry)."""
    layer: str = ""
    """The layer the check belongs to (filled in by the registry)."""
    caused_by: tuple[str, ...] = ()
    """Check ids of lower-layer findings this one follows from (filled in by the stack rule); empty for a
    root cause or an independent finding."""


@dataclass(frozen=True, slots=True)
class Report:
    """Everything a reporter needs: the findings, in layer order, and where they came from."""

    findings: tuple[Finding, ...]
    meta: dict[str, Any] = field(default_factory=dict)
    """Host, gpucheck version, sysroot, replay source, duration."""

    @property
    def status(self) -> Status:
        """The worst status among the findings (``pass`` when there are none)."""
        return max((f.status for f in self.findings), key=lambda s: s.severity, default=Status.PASS)

    def count(self, status: Status) -> int:
        """How many findings have this status."""
        return sum(1 for f in self.findings if f.status is status)

    def failed(self, *, strict: bool = False) -> bool:
        """Whether the report counts as failed: any fail or error (and any warn when ``strict``)."""
        bad = {Status.FAIL, Status.ERROR} | ({Status.WARN} if strict else set())
        return any(f.status in bad for f in self.findings)


def passed(summary: str, *, evidence: tuple[str, ...] = (), data: dict[str, Any] | None = None) -> Finding:
    """A ``pass`` finding; the registry fills in the check id."""
    return Finding("", Status.PASS, summary, "", evidence, data or {})


def warned(
    summary: str, remediation: str, *, evidence: tuple[str, ...] = (), data: dict[str, Any] | None = None
) -> Finding:
    """A ``warn`` finding with its remediation."""
    return Finding("", Status.WARN, summary, remediation, evidence, data or {})


def failed(
    summary: str, remediation: str, *, evidence: tuple[str, ...] = (), data: dict[str, Any] | None = None
) -> Finding:
    """A ``fail`` finding with its remediation."""
    return Finding("", Status.FAIL, summary, remediation, evidence, data or {})


def skipped(reason: str, *, evidence: tuple[str, ...] = (), data: dict[str, Any] | None = None) -> Finding:
    """A ``skip`` finding: the check does not apply, and why."""
    return Finding("", Status.SKIP, reason, "", evidence, data or {})


def errored(
    summary: str, remediation: str = "", *, evidence: tuple[str, ...] = (), data: dict[str, Any] | None = None
) -> Finding:
    """An ``error`` finding: gpucheck could not tell, because a probe broke."""
    return Finding("", Status.ERROR, summary, remediation, evidence, data or {})
