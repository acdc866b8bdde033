"""The fleet view as a console table, Markdown (for an issue or a job summary) or JSON."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from gpucheck import __version__
from gpucheck.diagnose.finding import Status
from gpucheck.fleet.merge import FleetReport, NodeRow
from gpucheck.report.markdown import STATUS_ICON, cell, table
from gpucheck.report.theme import STATUS_LABEL, THEME, status_style

FLEET_FORMAT = "gpucheck-fleet-report"
FLEET_SCHEMA_VERSION = 1
COLUMNS = {"driver": "Driver", "cuda": "CUDA", "toolkit": "Toolkit", "gpus": "GPUs"}
"""Inventory columns per node: driver, the CUDA the driver supports, the nvcc toolkit, GPU models."""


def headline(fleet: FleetReport) -> str:
    """``12 nodes: 10 ok, 2 failing, 3 outliers; 1 report(s) unusable``."""
    failing = sum(1 for n in fleet.nodes if n.status in ("fail", "error"))
    outliers = sum(1 for n in fleet.nodes if n.deviations)
    text = (
        f"{len(fleet.nodes)} nodes: {len(fleet.nodes) - failing} ok, {failing} failing, {outliers} outliers"
    )
    return text + (f"; {len(fleet.rejected)} report(s) unusable" if fleet.rejected else "")


def _notes(row: NodeRow) -> str:
    parts = list(row.deviations)
    parts += [f"fails {c}" for c in row.failing if not any(c in d for d in row.deviations)]
    return "; ".join(parts)


def render_console(fleet: FleetReport, console: Console) -> None:
    """Nodes table (outliers first), the inventory, failing checks and unusable reports."""
    nodes = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False, header_style="bold")
    nodes.add_column("Node", overflow="fold", ratio=1)
    nodes.add_column("Status", no_wrap=True)
    for attr, title in COLUMNS.items():
        # NOTE: versions never wrap (a split "550.54\n.14" misreads); GPU models may.
        nodes.add_column(title, ratio=1) if attr == "gpus" else nodes.add_column(title, no_wrap=True)
    nodes.add_column("Differs from the fleet / fails", ratio=2, overflow="fold")
    for row in fleet.nodes:
        status = Status(row.status)
        nodes.add_row(
            row.node,
            Text(STATUS_LABEL[status], style=status_style(status)),
            *(row.inventory[a] or "—" for a in COLUMNS),
            _notes(row),
        )
    with console.use_theme(THEME):
        console.print(nodes)
        for attr, groups in fleet.inventory.items():
            shown = ", ".join(f"{value} ({len(names)})" for value, names in groups.items())
            console.print(f"[layer.heading]{attr}[/]: {shown}", highlight=False)
        for check, groups in fleet.checks.items():
            bad = {s: n for s, n in groups.items() if s in ("fail", "error", "warn")}
            if bad:
                shown = "; ".join(f"{s} on {', '.join(n)}" for s, n in bad.items())
                console.print(f"[finding.check]{check}[/]: {shown}", highlight=False)
        for r in fleet.rejected:
            console.print(f"[status.error]unusable[/] {r.source}: {r.reason}", highlight=False)
        console.print(headline(fleet), style="summary.line")


def render_markdown(fleet: FleetReport) -> str:
    """The fleet view as Markdown."""
    lines = ["## gpucheck fleet report", "", headline(fleet), "", "### Nodes (outliers first)", ""]
    rows = [
        [
            cell(r.node),
            STATUS_ICON[Status(r.status)],
            *(cell(r.inventory[a] or "—") for a in COLUMNS),
            cell(_notes(r)) or "—",
        ]
        for r in fleet.nodes
    ]
    header = ["Node", "Status", *COLUMNS.values(), "Differs from the fleet / fails"]
    lines += [*table(header, rows), ""]
    lines += ["### Inventory", ""]
    inventory_rows = [
        [attr, cell(value), str(len(names)), cell(", ".join(names))]
        for attr, groups in fleet.inventory.items()
        for value, names in groups.items()
    ]
    lines += [*table(["What", "Value", "Nodes", "Which"], inventory_rows), ""]
    check_rows = [
        [f"`{check}`", STATUS_ICON[Status(status)], cell(", ".join(names))]
        for check, groups in fleet.checks.items()
        for status, names in groups.items()
        if status in ("fail", "error", "warn")
    ]
    if check_rows:
        lines += ["### Checks not passing everywhere", "", *table(["Check", "Status", "Nodes"], check_rows)]
        lines.append("")
    if fleet.rejected:
        rejected = [[cell(r.source), cell(r.reason)] for r in fleet.rejected]
        lines += ["### Unusable reports", "", *table(["File", "Why"], rejected), ""]
    return "\n".join(lines)


def fleet_to_json(fleet: FleetReport) -> dict[str, Any]:
    """The fleet view as a versioned JSON document."""
    return {
        "format": FLEET_FORMAT,
        "schema_version": FLEET_SCHEMA_VERSION,
        "gpucheck_version": __version__,
        "failed": fleet.failed,
        "summary": headline(fleet),
        "nodes": [asdict(n) for n in fleet.nodes],
        "inventory": fleet.inventory,
        "majority": fleet.majority,
        "checks": fleet.checks,
        "rejected": [asdict(r) for r in fleet.rejected],
    }


def render_json(fleet: FleetReport) -> str:
    """The JSON document as indented text."""
    return json.dumps(fleet_to_json(fleet), indent=2) + "\n"
