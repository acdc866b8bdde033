"""Read the per-node ``gpucheck doctor --json`` reports a fleet run left in files or directories.

A member that is not a gpucheck report, is malformed, or was written with a report schema this gpucheck does
not read is not fatal: it becomes a ``Rejected`` entry with the reason, and the others still merge.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpucheck.diagnose.finding import Status
from gpucheck.report.json_report import FORMAT, SCHEMA_VERSION

READABLE_SCHEMAS = frozenset({SCHEMA_VERSION})
"""Report schema versions this gpucheck merges (the envelope and finding keys it relies on are the same)."""
STATUSES = frozenset(s.value for s in Status)


class FleetInputError(ValueError):
    """The command line names no readable report at all (a usage error)."""


@dataclass(frozen=True, slots=True)
class NodeReport:
    """One node's doctor report, as far as the fleet view needs it."""

    node: str
    """The node's name: the report's ``meta.hostname``, else the file name."""
    source: str
    """The file it came from."""
    gpucheck_version: str
    status: str
    """The report's overall status (``pass`` … ``fail``)."""
    findings: tuple[dict[str, Any], ...]
    """The findings as JSON objects (``check``, ``status``, ``summary``, ``data``, ...)."""
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Rejected:
    """A file that could not be merged, and why."""

    source: str
    reason: str


def discover(paths: Sequence[Path]) -> list[Path]:
    """Report files: each file named, and every ``*.json`` under each directory named (sorted)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*.json") if p.is_file()))
        elif path.is_file():
            found.append(path)
        else:
            raise FleetInputError(f"{path}: no such file or directory")
    if not found:
        raise FleetInputError(f"no *.json report found in {', '.join(map(str, paths))}")
    return list(dict.fromkeys(found))


def _schema_problem(doc: dict[str, Any]) -> str | None:
    version = doc.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int):
        return f"schema_version is {version!r}, not a number"
    if version in READABLE_SCHEMAS:
        return None
    writer = doc.get("gpucheck_version", "an unknown gpucheck")
    if version > max(READABLE_SCHEMAS):
        return (
            f"written by gpucheck {writer} with report schema {version}; this one reads schema "
            f"{', '.join(map(str, sorted(READABLE_SCHEMAS)))}: upgrade: `pip install -U gpucheck`"
        )
    return f"report schema {version} (gpucheck {writer}) is too old to merge: re-run that node's doctor"


def _is_status(value: Any) -> bool:
    # NOTE: a JSON list or object is unhashable, so test the type before the set membership.
    return isinstance(value, str) and value in STATUSES


def _findings_problem(findings: Any) -> str | None:
    if not isinstance(findings, list):
        return "'findings' is not a list"
    for i, f in enumerate(findings):
        if not isinstance(f, dict) or not isinstance(f.get("check"), str) or not _is_status(f.get("status")):
            return f"finding {i} has no valid 'check' and 'status'"
        if not isinstance(f.get("data", {}), dict):
            return f"finding {i} ({f['check']}): 'data' is not an object"
    return None


def parse_report(text: str, source: str, *, name_from: str = "hostname") -> NodeReport | Rejected:
    """One report's text → ``NodeReport``, or ``Rejected`` with the reason.

    ``name_from``: ``hostname`` names the node by the report's ``meta.hostname``; ``file`` by the file name
    (inside a Kubernetes pod the hostname is the pod's, so the manifests name each file after its node).
    """
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return Rejected(source, f"not JSON: {exc}")
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return Rejected(source, f'not a gpucheck doctor report (no "format": "{FORMAT}")')
    problem = _schema_problem(doc) or _findings_problem(doc.get("findings"))
    if problem is None and not _is_status(doc.get("status")):
        problem = f"status {doc.get('status')!r} is not one of {', '.join(sorted(STATUSES))}"
    if problem is not None:
        return Rejected(source, problem)
    meta = doc.get("meta") if isinstance(doc.get("meta"), dict) else {}
    hostname = meta.get("hostname")
    return NodeReport(
        node=hostname
        if name_from == "hostname" and isinstance(hostname, str) and hostname
        else Path(source).stem,
        source=source,
        gpucheck_version=str(doc.get("gpucheck_version", "unknown")),
        status=doc["status"],
        findings=tuple(doc["findings"]),
        meta=meta,
    )


def load_reports(
    paths: Sequence[Path], *, name_from: str = "hostname"
) -> tuple[list[NodeReport], list[Rejected]]:
    """Every report under ``paths``; node names made unique by adding the file name to duplicates."""
    nodes: list[NodeReport] = []
    rejected: list[Rejected] = []
    for path in discover(paths):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            rejected.append(Rejected(str(path), f"unreadable: {exc}"))
            continue
        result = parse_report(text, str(path), name_from=name_from)
        (nodes if isinstance(result, NodeReport) else rejected).append(result)
    return _unique_names(nodes), rejected


def _unique_names(nodes: Iterable[NodeReport]) -> list[NodeReport]:
    nodes = list(nodes)
    seen: dict[str, int] = {}
    for n in nodes:
        seen[n.node] = seen.get(n.node, 0) + 1
    return [
        dataclasses.replace(n, node=f"{n.node} ({Path(n.source).name})") if seen[n.node] > 1 else n
        for n in nodes
    ]
