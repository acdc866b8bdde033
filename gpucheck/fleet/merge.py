"""Merge node reports into one fleet view: inventory, failing checks, and the nodes that differ.

A node is an *outlier* when one of its inventory values (driver, CUDA, toolkit, GPU model, GPU count)
differs from the value most nodes share, or when it fails a check that most nodes pass. Checks that fail
everywhere are fleet-wide problems, not outliers. A value a node did not report (its layer was skipped) is
left out of the vote. When the top values tie there is no majority, and nobody is an outlier on that column.

The merge is linear in the number of nodes: each report is reduced to a ``NodeSummary`` as it is read
(its inventory and, per check, its worst status), every per-check count is taken once, and each node's row
is then built from those counts. Reports can be streamed (``merge_stream``): only the summaries are kept.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from gpucheck.diagnose.finding import Status
from gpucheck.fleet.load import NodeReport, Rejected, unique_names

BAD = frozenset({"fail", "error"})
PASSING = frozenset({"pass", "warn", "skip"})
"""Statuses that count as "passes" when deciding whether a failure singles a node out."""
SEVERITY = {s.value: s.severity for s in Status}
_STATUS = {s.value: s.value for s in Status}
"""Each status string once, so 10,000 summaries share them (load.py admits only these statuses)."""


def _finding(node: NodeReport, check: str, ok: frozenset[str] = frozenset({"pass", "warn"})) -> dict | None:
    """The first finding of ``check`` with a usable status (data is only trusted from pass/warn)."""
    return next((f for f in node.findings if f["check"] == check and f["status"] in ok), None)


def _data(node: NodeReport, check: str, key: str) -> Any:
    finding = _finding(node, check)
    value = finding.get("data", {}).get(key) if finding else None
    return str(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None


def _gpu_model(node: NodeReport) -> str | None:
    """``2× NVIDIA H100 80GB HBM3`` (or each model with its count, for a mixed node)."""
    finding = _finding(node, "gpu.present", frozenset({"pass", "warn", "fail"}))
    names = finding.get("data", {}).get("names") if finding else None
    if not isinstance(names, list):
        return None
    if not names:
        return "no GPU"
    return ", ".join(f"{count}× {name}" for name, count in sorted(Counter(map(str, names)).items()))


ATTRIBUTES: dict[str, Callable[[NodeReport], str | None]] = {
    "driver": lambda n: _data(n, "driver.loaded", "driver_version"),
    "cuda": lambda n: _data(n, "driver.loaded", "cuda_version"),
    "toolkit": lambda n: _data(n, "toolkit.nvcc", "version"),
    "gpus": _gpu_model,
    "gpucheck": lambda n: n.gpucheck_version,
}
"""Inventory columns → how to read them from a report (driver.loaded, toolkit.nvcc, gpu.present data)."""


@dataclass(frozen=True, slots=True)
class NodeRow:
    """One node in the fleet table."""

    node: str
    source: str
    status: str
    inventory: dict[str, str | None]
    """Attribute → value (None when the node's report does not say)."""
    failing: tuple[str, ...]
    """Checks with a fail or error finding on this node."""
    warning: tuple[str, ...]
    deviations: tuple[str, ...]
    """Why this node is an outlier (``driver 535.104.05, most: 550.54.14``; ``fails gpu.health``)."""


@dataclass(frozen=True, slots=True)
class FleetReport:
    """The merged view of many node reports."""

    nodes: tuple[NodeRow, ...]
    """Outliers first (most deviations first), then failing nodes, then the rest, by name."""
    rejected: tuple[Rejected, ...]
    inventory: dict[str, dict[str, list[str]]]
    """Attribute → value → nodes with it (most common value first)."""
    majority: dict[str, str | None]
    """Attribute → the value most nodes share (None when the top values tie or nobody reported it)."""
    checks: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    """Check id → status → nodes, for checks that are not ``pass`` everywhere (``—``: the node lacks it)."""

    @property
    def failed(self) -> bool:
        """Whether a node failed or a report could not be merged (``fleet report`` then exits 1)."""
        return bool(self.rejected) or any(n.status in BAD for n in self.nodes)


def worst_by_check(findings: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Check id → the worst status among the node's findings of it (a failure on its second GPU counts)."""
    worst: dict[str, str] = {}
    for f in findings:
        check, status = f["check"], f["status"]
        if check not in worst or SEVERITY[status] > SEVERITY[worst[check]]:
            worst[check] = status
    return worst


@dataclass(frozen=True, slots=True)
class NodeSummary:
    """What the merge keeps of one report: its inventory and each check's worst status."""

    node: str
    source: str
    status: str
    inventory: dict[str, str | None]
    worst: dict[str, str]


def summarize(node: NodeReport) -> NodeSummary:
    """Reduce a report to what the fleet view needs (strings interned: 10,000 nodes share them)."""
    worst = {sys.intern(c): _STATUS[s] for c, s in worst_by_check(node.findings).items()}
    inventory = {attr: read(node) for attr, read in ATTRIBUTES.items()}
    return NodeSummary(
        node=node.node,
        source=node.source,
        status=_STATUS[node.status],
        inventory={a: None if v is None else sys.intern(v) for a, v in inventory.items()},
        worst=worst,
    )


def _majority(counts: Counter[str]) -> str | None:
    ranked = counts.most_common(2)
    if not ranked or (len(ranked) > 1 and ranked[0][1] == ranked[1][1]):
        return None
    return ranked[0][0]


def merge_stream(items: Iterable[NodeReport | Rejected]) -> FleetReport:
    """Build the fleet view from reports as they are read, keeping only each one's summary."""
    summaries: list[NodeSummary] = []
    rejected: list[Rejected] = []
    for item in items:
        if isinstance(item, Rejected):
            rejected.append(item)
        else:
            summaries.append(summarize(item))
    return _build(summaries, rejected)


def merge(nodes: Iterable[NodeReport], rejected: Iterable[Rejected] = ()) -> FleetReport:
    """Build the fleet view."""
    return _build([summarize(n) for n in nodes], list(rejected))


def _build(summaries: list[NodeSummary], rejected: list[Rejected]) -> FleetReport:
    names = unique_names([s.node for s in summaries], [s.source for s in summaries])
    total = len(summaries)
    # One pass over every (node, value) and (node, check) pair: the groups, whose sizes are the counts.
    inventory_groups: dict[str, dict[str, list[str]]] = {attr: {} for attr in ATTRIBUTES}
    check_groups: dict[str, dict[str, list[str]]] = {}
    for name, s in zip(names, summaries, strict=True):
        for attr, value in s.inventory.items():
            inventory_groups[attr].setdefault("—" if value is None else value, []).append(name)
        for check, status in s.worst.items():
            groups = check_groups.get(check)
            if groups is None:
                groups = check_groups[check] = {}
            members = groups.get(status)
            if members is None:
                members = groups[status] = []
            members.append(name)
    majority = {
        attr: _majority(Counter({v: len(n) for v, n in groups.items() if v != "—"}))
        for attr, groups in inventory_groups.items()
    }
    passing = {
        c: sum(len(n) for st, n in groups.items() if st in PASSING) for c, groups in check_groups.items()
    }
    not_all_pass = sorted(c for c, groups in check_groups.items() if len(groups.get("pass", ())) != total)
    lacking = [c for c in not_all_pass if sum(map(len, check_groups[c].values())) < total]
    if lacking:
        for name, s in zip(names, summaries, strict=True):
            for c in lacking:
                if c not in s.worst:
                    check_groups[c].setdefault("—", []).append(name)
    checks = {c: _ranked(check_groups[c]) for c in not_all_pass}
    rows = [_row(name, s, majority, passing, total) for name, s in zip(names, summaries, strict=True)]
    rows.sort(key=lambda r: (-len(r.deviations), r.status not in BAD, -SEVERITY[r.status], r.node))
    inventory = {a: _ranked(groups) for a, groups in inventory_groups.items()}
    return FleetReport(tuple(rows), tuple(rejected), inventory, majority, checks)


def _ranked(groups: dict[str, list[str]]) -> dict[str, list[str]]:
    """Groups largest first, then by value."""
    return dict(sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])))


def _row(
    name: str, node: NodeSummary, majority: dict[str, str | None], passing: dict[str, int], total: int
) -> NodeRow:
    deviations = [
        f"{attr} {value}, most: {majority[attr]}"
        for attr, value in node.inventory.items()
        if value is not None and majority[attr] is not None and value != majority[attr]
    ]
    mine = sorted(node.worst.items())
    for check, status in mine:
        if status in BAD and passing[check] * 2 > total:
            deviations.append(f"{status}s {check} (passes on {passing[check]} of {total} nodes)")
    return NodeRow(
        node=name,
        source=node.source,
        status=node.status,
        inventory=node.inventory,
        failing=tuple(c for c, s in mine if s in BAD),
        warning=tuple(c for c, s in mine if s == "warn"),
        deviations=tuple(deviations),
    )
