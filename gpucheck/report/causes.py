"""Root causes first: problems down the stack, each with the findings that follow from it folded under it.

``Finding.caused_by`` names the lower-layer checks a finding follows from. A problem whose causes are all
present in the report as problems is a *consequence*: reporters show it under its root cause instead of as
one more failure. Everything else is a *root*: a root cause, or a problem that stands on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from gpucheck.diagnose.finding import Finding, Report, Status
from gpucheck.diagnose.registry import LAYERS

PROBLEMS = (Status.FAIL, Status.ERROR, Status.WARN)
"""The statuses that need attention (and a fix)."""


@dataclass(frozen=True, slots=True)
class Problem:
    """A root problem and the problems that follow from it."""

    finding: Finding
    consequences: list[Finding] = field(default_factory=list)


def layer_rank(layer: str) -> int:
    """A layer's position down the stack (unknown layers last)."""
    order = list(LAYERS)
    return order.index(layer) if layer in order else len(order)


def in_stack_order(findings: Iterable[Finding]) -> list[Finding]:
    """Findings by layer (lowest first), the worst first within a layer, otherwise as reported."""
    return sorted(findings, key=lambda f: (layer_rank(f.layer), -f.status.severity))


def problems(findings: Sequence[Finding] | Report) -> list[Problem]:
    """The root problems down the stack, each with its consequences folded under it.

    A cause is followed only to a problem listed earlier (lower in the stack), so a cycle in ``caused_by``
    cannot hide both findings.
    """
    items = findings.findings if isinstance(findings, Report) else findings
    bad = [f for f in in_stack_order(items) if f.status in PROBLEMS]
    first: dict[str, int] = {}
    for i, f in enumerate(bad):
        first.setdefault(f.check, i)
    root_index: list[int] = []
    for i, f in enumerate(bad):
        causes = [first[c] for c in f.caused_by if first.get(c, i) < i]
        root_index.append(root_index[causes[0]] if causes else i)
    roots = {i: Problem(f) for i, f in enumerate(bad) if root_index[i] == i}
    for i, f in enumerate(bad):
        if root_index[i] != i:
            roots[root_index[i]].consequences.append(f)
    return list(roots.values())


def consequence_ids(findings: Sequence[Finding] | Report) -> dict[int, Finding]:
    """``id(finding)`` → its root problem, for every problem that follows from another."""
    return {id(c): p.finding for p in problems(findings) for c in p.consequences}
