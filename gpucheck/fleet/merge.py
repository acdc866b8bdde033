"""Merge node reports into one fleet view: inventory, failing checks, and the nodes that differ.

A node is an *outlier* when one of its inventory values (driver, CUDA, toolkit, GPU model, GPU count)
differs from the value most nodes share, or when it fails a check that most nodes pass. Checks that fail
everywhere are fleet-wide problems, not outliers. A value a node did not report (its layer was skipped) is
left out of the vote. When the top values tie there is no majority, and nobody is an outlier on that column.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gpucheck.diagnose.finding import Status
from gpucheck.fleet.load import NodeReport, Rejected

BAD = frozenset({"fail", "error"})
SEVERITY = {s.value: s.severity for s in Status}


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
    """Check id → status → nodes, for checks that are not ``pass`` everywhere."""

    @property
    def failed(self) -> bool:
        """Whether a node failed or a report could not be merged (``fleet report`` then exits 1)."""
        return bool(self.rejected) or any(n.status in BAD for n in self.nodes)


def _worst_by_check(node: NodeReport) -> dict[str, str]:
    worst: dict[str, str] = {}
    for f in node.findings:
        if SEVERITY[f["status"]] >= SEVERITY.get(worst.get(f["check"], "pass"), 0):
            worst[f["check"]] = f["status"]
    return worst


def _majority(values: Sequence[str | None]) -> str | None:
    ranked = Counter(v for v in values if v is not None).most_common()
    if not ranked or (len(ranked) > 1 and ranked[0][1] == ranked[1][1]):
        return None
    return ranked[0][0]


def _group(pairs: Sequence[tuple[str, str | None]]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for node, value in pairs:
        groups.setdefault("—" if value is None else value, []).append(node)
    return dict(sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])))


def merge(nodes: Sequence[NodeReport], rejected: Sequence[Rejected] = ()) -> FleetReport:
    """Build the fleet view."""
    inventories = {n.node: {attr: read(n) for attr, read in ATTRIBUTES.items()} for n in nodes}
    majority = {attr: _majority([inv[attr] for inv in inventories.values()]) for attr in ATTRIBUTES}
    statuses = {n.node: _worst_by_check(n) for n in nodes}
    check_ids = sorted({c for s in statuses.values() for c in s})
    checks = {
        c: _group([(node, s.get(c)) for node, s in statuses.items()])
        for c in check_ids
        if any(s.get(c) not in (None, "pass") for s in statuses.values())
    }
    rows = [_row(n, inventories[n.node], majority, statuses) for n in nodes]
    rows.sort(key=lambda r: (-len(r.deviations), r.status not in BAD, -SEVERITY[r.status], r.node))
    inventory = {a: _group([(node, inv[a]) for node, inv in inventories.items()]) for a in ATTRIBUTES}
    return FleetReport(tuple(rows), tuple(rejected), inventory, majority, checks)


def _row(
    node: NodeReport,
    inventory: dict[str, str | None],
    majority: dict[str, str | None],
    statuses: dict[str, dict[str, str]],
) -> NodeRow:
    mine = statuses[node.node]
    deviations = [
        f"{attr} {value}, most: {majority[attr]}"
        for attr, value in inventory.items()
        if value is not None and majority[attr] is not None and value != majority[attr]
    ]
    for check, status in sorted(mine.items()):
        passing = sum(1 for s in statuses.values() if s.get(check) in ("pass", "warn", "skip"))
        if status in BAD and passing * 2 > len(statuses):
            deviations.append(f"{status}s {check} (passes on {passing} of {len(statuses)} nodes)")
    return NodeRow(
        node=node.node,
        source=node.source,
        status=node.status,
        inventory=inventory,
        failing=tuple(c for c, s in sorted(mine.items()) if s in BAD),
        warning=tuple(c for c, s in sorted(mine.items()) if s == "warn"),
        deviations=tuple(deviations),
    )
