"""The fleet view as a console table, Markdown (for an issue or a job summary) or JSON.

Console and Markdown stay readable at 10,000 nodes: the node table lists at most ``limit`` rows (outliers
and failing nodes come first, so they are the ones shown) and says how many it left out; groups name a few
of their nodes and count the rest. JSON lists everything. Node names, check ids and values come from the
reports, which are untrusted: the console gets them as ``rich.text.Text`` (never markup) with control
characters shown escaped.
"""

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
from gpucheck.fleet.merge import BAD, FleetReport, NodeRow
from gpucheck.report.markdown import STATUS_ICON, cell, table
from gpucheck.report.theme import STATUS_LABEL, THEME, status_style

FLEET_FORMAT = "gpucheck-fleet-report"
FLEET_SCHEMA_VERSION = 1
COLUMNS = {"driver": "Driver", "cuda": "CUDA", "toolkit": "Toolkit", "gpus": "GPUs"}
"""Inventory columns per node: driver, the CUDA the driver supports, the nvcc toolkit, GPU models."""
ROW_LIMIT = 50
"""Nodes listed in the console and Markdown tables (``fleet report --limit``; 0 lists every node)."""
NAMES_SHOWN = 5
"""Node names a group (an inventory value, a failing check) lists before counting the rest."""
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F)} | {0x9B: "\\x9b"}


def plain(text: object) -> str:
    r"""Untrusted text for a terminal: control characters (escape sequences, newlines) shown as ``\xNN``."""
    return str(text).translate(_CONTROL)


def headline(fleet: FleetReport) -> str:
    """``12 nodes: 10 ok, 2 failing, 3 outliers; 1 report(s) unusable``."""
    failing = sum(1 for n in fleet.nodes if n.status in BAD)
    outliers = sum(1 for n in fleet.nodes if n.deviations)
    text = (
        f"{len(fleet.nodes)} nodes: {len(fleet.nodes) - failing} ok, {failing} failing, {outliers} outliers"
    )
    return text + (f"; {len(fleet.rejected)} report(s) unusable" if fleet.rejected else "")


def names(nodes: list[str], shown: int = NAMES_SHOWN) -> str:
    """``a, b, c`` or ``a, b, c, … and 9,997 more``."""
    if len(nodes) <= shown:
        return ", ".join(nodes)
    return ", ".join(nodes[:shown]) + f", … and {len(nodes) - shown:,} more"


def listed(fleet: FleetReport, limit: int = ROW_LIMIT) -> tuple[tuple[NodeRow, ...], str]:
    """The rows a table shows and, when some are left out, the line that says so."""
    if limit <= 0 or len(fleet.nodes) <= limit:
        return fleet.nodes, ""
    rest = fleet.nodes[limit:]
    attention = sum(1 for r in rest if r.deviations or r.status in BAD)
    why = f"{attention:,} of them outliers or failing" if attention else "all of them in line with the fleet"
    return fleet.nodes[:limit], (
        f"{len(rest):,} more nodes not listed ({why}): `gpucheck fleet report --json` lists every node, "
        "`--limit 0` prints them all"
    )


def _notes(row: NodeRow) -> str:
    parts = list(row.deviations)
    parts += [f"fails {c}" for c in row.failing if not any(c in d for d in row.deviations)]
    return "; ".join(parts)


def _bad_groups(groups: dict[str, list[str]]) -> dict[str, list[str]]:
    return {s: n for s, n in groups.items() if s in ("fail", "error", "warn")}


def render_console(fleet: FleetReport, console: Console, *, limit: int = ROW_LIMIT) -> None:
    """Nodes table (outliers first), the inventory, failing checks and unusable reports."""
    rows, more = listed(fleet, limit)
    nodes = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False, header_style="bold")
    nodes.add_column("Node", overflow="fold", ratio=1)
    nodes.add_column("Status", no_wrap=True)
    for attr, title in COLUMNS.items():
        # NOTE: versions never wrap (a split "550.54\n.14" misreads); GPU models may.
        nodes.add_column(title, ratio=1) if attr == "gpus" else nodes.add_column(title, no_wrap=True)
    nodes.add_column("Differs from the fleet / fails", ratio=2, overflow="fold")
    for row in rows:
        status = Status(row.status)
        nodes.add_row(
            Text(plain(row.node)),
            Text(STATUS_LABEL[status], style=status_style(status)),
            *(Text(plain(row.inventory[a] or "—")) for a in COLUMNS),
            Text(plain(_notes(row))),
        )
    with console.use_theme(THEME):
        console.print(nodes)
        if more:
            console.print(Text(more, style="evidence.text"))
        for attr, groups in fleet.inventory.items():
            shown = ", ".join(f"{value} ({len(members):,})" for value, members in groups.items())
            console.print(Text.assemble((attr, "layer.heading"), ": ", plain(shown)))
        for check, groups in fleet.checks.items():
            bad = _bad_groups(groups)
            if bad:
                shown = "; ".join(f"{s} on {names(members)}" for s, members in bad.items())
                console.print(Text.assemble((plain(check), "finding.check"), ": ", plain(shown)))
        for r in fleet.rejected:
            console.print(
                Text.assemble(("unusable", "status.error"), f" {plain(r.source)}: {plain(r.reason)}")
            )
        console.print(Text(headline(fleet), style="summary.line"))


def render_markdown(fleet: FleetReport, *, limit: int = ROW_LIMIT) -> str:
    """The fleet view as Markdown."""
    shown, more = listed(fleet, limit)
    lines = ["## gpucheck fleet report", "", headline(fleet), "", "### Nodes (outliers first)", ""]
    rows = [
        [
            cell(r.node),
            STATUS_ICON[Status(r.status)],
            *(cell(r.inventory[a] or "—") for a in COLUMNS),
            cell(_notes(r)) or "—",
        ]
        for r in shown
    ]
    header = ["Node", "Status", *COLUMNS.values(), "Differs from the fleet / fails"]
    lines += [*table(header, rows), ""]
    if more:
        lines += [more + ".", ""]
    lines += ["### Inventory", ""]
    inventory_rows = [
        [attr, cell(value), f"{len(members):,}", cell(names(members))]
        for attr, groups in fleet.inventory.items()
        for value, members in groups.items()
    ]
    lines += [*table(["What", "Value", "Nodes", "Which"], inventory_rows), ""]
    check_rows = [
        [cell(f"`{check}`"), STATUS_ICON[Status(status)], f"{len(members):,}", cell(names(members))]
        for check, groups in fleet.checks.items()
        for status, members in _bad_groups(groups).items()
    ]
    if check_rows:
        lines += [
            "### Checks not passing everywhere",
            "",
            *table(["Check", "Status", "Nodes", "Which"], check_rows),
        ]
        lines.append("")
    if fleet.rejected:
        rejected = [[cell(r.source), cell(r.reason)] for r in fleet.rejected]
        lines += ["### Unusable reports", "", *table(["File", "Why"], rejected), ""]
    return "\n".join(lines)


def fleet_to_json(fleet: FleetReport) -> dict[str, Any]:
    """The fleet view as a versioned JSON document (every node, every group member)."""
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
