"""Read the per-node ``gpucheck doctor --json`` reports a fleet run left in files or directories.

A member that is not a gpucheck report, is malformed, too large, or was written with a report schema this
gpucheck does not read is not fatal: it becomes a ``Rejected`` entry with the reason, and the others still
merge. ``iter_reports`` reads one file at a time, so a 10,000-node directory never sits in memory at once.
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpucheck.diagnose.finding import Status
from gpucheck.report.json_report import FORMAT, SCHEMA_VERSION

READABLE_SCHEMAS = frozenset({SCHEMA_VERSION})
"""Report schema versions this gpucheck merges (the envelope and finding keys it relies on are the same)."""
STATUSES = frozenset(s.value for s in Status)
MAX_REPORT_BYTES = 16 * 1024 * 1024
"""A doctor report is tens of kilobytes; a member larger than this is refused unread."""


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
            # NOTE: a FIFO or device named *.json is kept, so that reading rejects it by name.
            found.extend(sorted(p for p in path.rglob("*.json") if not p.is_dir()))
        elif path.exists():
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
    # NOTE: a JSON list or object is unhashable, so test the type before the set membership (here and in
    # _findings_problem, which checks `type(...) is` since json.loads makes only exact dicts and strs).
    return isinstance(value, str) and value in STATUSES


def _findings_problem(findings: Any) -> str | None:
    if not isinstance(findings, list):
        return "'findings' is not a list"
    for i, f in enumerate(findings):
        if type(f) is not dict:
            return f"finding {i} has no valid 'check' and 'status'"
        check, status, data = f.get("check"), f.get("status"), f.get("data", {})
        if type(check) is not str or type(status) is not str or status not in STATUSES:
            return f"finding {i} has no valid 'check' and 'status'"
        if type(data) is not dict:
            return f"finding {i} ({check}): 'data' is not an object"
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


def read_member(path: Path) -> str | Rejected:
    """One member's text, or why it cannot be read (not a regular file, too large, not UTF-8)."""
    try:
        # NOTE: O_NONBLOCK so that a FIFO swapped in after discovery cannot block the open.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        return Rejected(str(path), f"unreadable: {exc.strerror or exc}")
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return Rejected(str(path), "not a regular file")
        if info.st_size > MAX_REPORT_BYTES:
            return Rejected(
                str(path), f"{info.st_size} bytes: larger than any doctor report ({MAX_REPORT_BYTES})"
            )
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(MAX_REPORT_BYTES + 1)
    except OSError as exc:
        return Rejected(str(path), f"unreadable: {exc.strerror or exc}")
    finally:
        os.close(fd)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejected(str(path), f"not UTF-8: {exc.reason} at byte {exc.start}")


def iter_reports(paths: Sequence[Path], *, name_from: str = "hostname") -> Iterator[NodeReport | Rejected]:
    """Every member under ``paths``, parsed one at a time as it is consumed (``merge`` makes names unique).

    The paths are discovered before this returns, so a usage error (``FleetInputError``) comes at the call.
    """
    files = discover(paths)

    def parsed() -> Iterator[NodeReport | Rejected]:
        for path in files:
            text = read_member(path)
            yield text if isinstance(text, Rejected) else parse_report(text, str(path), name_from=name_from)

    return parsed()


def load_reports(
    paths: Sequence[Path], *, name_from: str = "hostname"
) -> tuple[list[NodeReport], list[Rejected]]:
    """Every report under ``paths`` as lists; node names made unique by adding the file name to duplicates."""
    nodes: list[NodeReport] = []
    rejected: list[Rejected] = []
    for result in iter_reports(paths, name_from=name_from):
        (nodes if isinstance(result, NodeReport) else rejected).append(result)
    return _unique_names(nodes), rejected


def unique_names(names: Sequence[str], sources: Sequence[str]) -> list[str]:
    """Names with each duplicate told apart by its file name (``gpu-a01 (copy.json)``)."""
    seen: dict[str, int] = {}
    for name in names:
        seen[name] = seen.get(name, 0) + 1
    return [f"{n} ({Path(src).name})" if seen[n] > 1 else n for n, src in zip(names, sources, strict=True)]


def _unique_names(nodes: Iterable[NodeReport]) -> list[NodeReport]:
    nodes = list(nodes)
    names = unique_names([n.node for n in nodes], [n.source for n in nodes])
    return [
        n if n.node == name else dataclasses.replace(n, node=name)
        for n, name in zip(nodes, names, strict=True)
    ]
