"""Evidence ⇄ JSON: ``gpucheck snapshot -o FILE`` writes it, ``gpucheck doctor --replay FILE`` reads it back.

The format is documented by ``gpucheck/schemas/snapshot.schema.json``. ``schema_version`` is bumped whenever a
field changes meaning or is removed; adding optional fields keeps it. A file that is not JSON, not a gpucheck
snapshot, or from a newer schema is refused with a ``SnapshotError`` that says which; so is one that does
not match the schema, naming the first field that does not (``$.evidence[3].returncode: 'x' is not of type
'integer', 'null'``). Only a regular file of at most ``MAX_SNAPSHOT_BYTES`` is read (a FIFO or /dev/zero
is refused at once); nesting too deep for the parser and integers too long to convert are refused too.
A lone UTF-16 surrogate (written for an undecodable environment byte) becomes U+FFFD.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from gpucheck.collect.evidence import (
    CollectorStatus,
    Evidence,
    EvidenceFormatError,
    item_from_json,
    item_to_json,
)
from gpucheck.collect.sysroot import read_regular

FORMAT = "gpucheck-snapshot"
SCHEMA_VERSION = 1
MAX_SNAPSHOT_BYTES = 256 * 1024 * 1024
"""Snapshots are a few MB at most (command output is capped at 2 M characters per stream)."""


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
    """Write the snapshot as indented JSON; raises ``OSError`` when ``path`` cannot be written."""
    path.write_text(
        json.dumps(snapshot_to_json(evidence), indent=2, sort_keys=False) + "\n", encoding="utf-8"
    )


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    text = resources.files("gpucheck.schemas").joinpath("snapshot.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def _json_path(path: Any) -> str:
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
    "integer": int,
    "number": (int, float),
}


def _is_type(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    if name == "integer" and isinstance(value, float):
        return value.is_integer()  # NOTE: as JSON Schema defines it: 1.0 is an integer
    return isinstance(value, _TYPES[name])


def _first_error(schema: dict[str, Any], doc: Any, prefix: tuple[Any, ...] = ()) -> str | None:
    """``"$.path: message"`` for the first place ``doc`` breaks ``schema``, or None when it is valid.

    Covers the JSON Schema keywords snapshot.schema.json uses (``type``, ``const``, ``required``,
    ``properties``, ``additionalProperties``, ``items``); evidence items' ``oneOf`` is dispatched on ``kind``
    by ``schema_problem``. Iterative, so a deeply nested ``data`` value cannot exhaust the stack.
    """
    stack: list[tuple[dict[str, Any], Any, tuple[Any, ...]]] = [(schema, doc, prefix)]
    while stack:
        rule, value, path = stack.pop()
        where = _json_path(path)
        types = rule.get("type")
        if types is not None:
            names = [types] if isinstance(types, str) else list(types)
            if not any(_is_type(value, n) for n in names):
                shown = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
                return f"{where}: {shown[:80]} is not of type {', '.join(repr(n) for n in names)}"
        if "const" in rule and value != rule["const"]:
            return f"{where}: {value!r:.80} is not {rule['const']!r}"
        if isinstance(value, dict):
            missing = [k for k in rule.get("required", ()) if k not in value]
            if missing:
                return f"{where}: {missing[0]!r} is a required property"
            props = rule.get("properties", {})
            extra = rule.get("additionalProperties", True)
            for key in reversed(list(value)):
                if key in props:
                    stack.append((props[key], value[key], (*path, key)))
                elif extra is False:
                    return f"{where}: unexpected property {key!r}"
                elif isinstance(extra, dict):
                    stack.append((extra, value[key], (*path, key)))
        if isinstance(value, list) and isinstance(rule.get("items"), dict) and "oneOf" not in rule["items"]:
            stack.extend((rule["items"], v, (*path, i)) for i, v in reversed(list(enumerate(value))))
    return None


def schema_problem(doc: dict[str, Any]) -> str | None:
    """The first place a snapshot document breaks the schema, or None.

    Evidence items are checked against the item schema of their own ``kind`` (not the ``oneOf``), so the
    message names the field that is wrong rather than "is not valid under any of the given schemas".
    """
    schema = _schema()
    top = {**schema, "properties": {**schema["properties"], "evidence": {"type": "array"}}}
    problem = _first_error(top, {"meta": {}, **doc})
    if problem is not None:
        return problem
    by_kind = {
        branch["properties"]["kind"]["const"]: branch
        for branch in schema["properties"]["evidence"]["items"]["oneOf"]
    }
    for index, item in enumerate(doc["evidence"]):
        kind = item.get("kind") if isinstance(item, dict) else None
        if not isinstance(kind, str) or kind not in by_kind:
            return f"$.evidence[{index}]: not an evidence item (kind is {kind!r}; one of {sorted(by_kind)})"
        problem = _first_error(by_kind[kind], item, ("evidence", index))
        if problem is not None:
            return problem
    return None


def _without_lone_surrogates(node: Any) -> Any:
    """The document with lone UTF-16 surrogates in its strings (and keys) replaced by U+FFFD."""
    if isinstance(node, str):
        try:
            node.encode("utf-8")
        except UnicodeEncodeError:
            return node.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        return node
    if isinstance(node, list):
        return [_without_lone_surrogates(v) for v in node]
    if isinstance(node, dict):
        return {_without_lone_surrogates(k): _without_lone_surrogates(v) for k, v in node.items()}
    return node


def snapshot_from_json(doc: Any) -> Evidence:
    """Rebuild evidence from a snapshot document; raises ``SnapshotError`` when it is not one we can read."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise SnapshotError(
            "not a gpucheck snapshot (the 'format' field is missing or is not 'gpucheck-snapshot')"
        )
    version = doc.get("schema_version")
    if isinstance(version, float) and version.is_integer():
        version = int(version)
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
    problem = schema_problem(doc)
    if problem is not None:
        if problem.startswith("$.collectors."):
            name = problem.split(".")[2].split(":")[0]
            raise SnapshotError(f"collector entry {name!r} is malformed: {problem}")
        raise SnapshotError(f"snapshot is malformed at {problem}")
    doc = _without_lone_surrogates(doc)
    evidence = Evidence(meta=dict(doc.get("meta", {})))
    for name, status in doc["collectors"].items():
        evidence.collectors[name] = CollectorStatus(
            name=name,
            ok=status["ok"],
            duration_s=float(status.get("duration_s") or 0.0),
            error=status.get("error"),
            timed_out=bool(status.get("timed_out", False)),
        )
    try:
        evidence.add(item_from_json(item) for item in doc["evidence"])
    except EvidenceFormatError as exc:
        raise SnapshotError(f"snapshot evidence is malformed: {exc}") from None
    return evidence


def read_snapshot(path: Path) -> Evidence:
    """Load a snapshot file; every failure is a ``SnapshotError`` with a clear message."""
    try:
        data, _ = read_regular(str(path), limit=MAX_SNAPSHOT_BYTES)
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SnapshotError(
            f"cannot read {path}: it is not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    except OSError as exc:
        raise SnapshotError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SnapshotError(
            f"{path} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise SnapshotError(f"{path} is nested too deeply to be a gpucheck snapshot") from None
    except ValueError as exc:  # NOTE: an integer longer than Python converts (sys.get_int_max_str_digits)
        raise SnapshotError(f"{path} cannot be read: {exc}") from None
    return snapshot_from_json(doc)
