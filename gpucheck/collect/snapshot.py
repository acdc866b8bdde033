"""Evidence ⇄ JSON: ``gpucheck snapshot -o FILE`` writes it, ``gpucheck doctor --replay FILE`` reads it back.

The format is documented by ``gpucheck/schemas/snapshot.schema.json``. ``schema_version`` is bumped whenever a
field changes meaning or is removed; adding optional fields keeps it. A file that is not JSON, not a gpucheck
snapshot, or from a newer schema is refused with a ``SnapshotError`` that says which.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gpucheck.collect.evidence import (
    CollectorStatus,
    Evidence,
    EvidenceFormatError,
    item_from_json,
    item_to_json,
)

FORMAT = "gpucheck-snapshot"
SCHEMA_VERSION = 1


class SnapshotError(ValueError):
    """A snapshot file cannot be used (unreadable, malformed, foreign or too new)."""


def snapshot_to_json(evidence: Evidence) -> dict[str, Any]:
    """The JSON document for this evidence (already redacted by the collectors)."""
    return {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "meta": evidence.meta,
        "collectors": {
            name: {"ok": s.ok, "duration_s": s.duration_s, "error": s.error, "timed_out": s.timed_out}
            for name, s in evidence.collectors.items()
        },
        "evidence": [item_to_json(evidence.items[key]) for key in sorted(evidence.items)],
    }


def write_snapshot(evidence: Evidence, path: Path) -> None:
    """Write the snapshot as indented JSON."""
    path.write_text(
        json.dumps(snapshot_to_json(evidence), indent=2, sort_keys=False) + "\n", encoding="utf-8"
    )


def snapshot_from_json(doc: Any) -> Evidence:
    """Rebuild evidence from a snapshot document; raises ``SnapshotError`` when it is not one we can read."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise SnapshotError(
            "not a gpucheck snapshot (the 'format' field is missing or is not 'gpucheck-snapshot')"
        )
    version = doc.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise SnapshotError("snapshot has no integer 'schema_version'")
    if version > SCHEMA_VERSION:
        raise SnapshotError(
            f"snapshot schema version {version} is newer than this gpucheck reads ({SCHEMA_VERSION}); "
            "upgrade gpucheck"
        )
    if version < 1:
        raise SnapshotError(f"snapshot schema version {version} is not a valid version")
    meta, collectors, items = doc.get("meta", {}), doc.get("collectors"), doc.get("evidence")
    if not isinstance(meta, dict) or not isinstance(collectors, dict) or not isinstance(items, list):
        raise SnapshotError(
            "snapshot must have a 'meta' object, a 'collectors' object and an 'evidence' list"
        )
    evidence = Evidence(meta=dict(meta))
    for name, status in collectors.items():
        if not isinstance(status, dict) or not isinstance(status.get("ok"), bool):
            raise SnapshotError(f"collector entry {name!r} is malformed")
        evidence.collectors[name] = CollectorStatus(
            name=name,
            ok=status["ok"],
            duration_s=float(status.get("duration_s") or 0.0),
            error=status.get("error"),
            timed_out=bool(status.get("timed_out", False)),
        )
    try:
        evidence.add(item_from_json(item) for item in items)
    except EvidenceFormatError as exc:
        raise SnapshotError(f"snapshot evidence is malformed: {exc}") from None
    return evidence


def read_snapshot(path: Path) -> Evidence:
    """Load a snapshot file; every failure is a ``SnapshotError`` with a clear message."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SnapshotError(f"cannot read {path}: {exc}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SnapshotError(
            f"{path} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    return snapshot_from_json(doc)
