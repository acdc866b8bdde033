"""The signature catalogue (gpucheck/knowledge/signatures.toml) read into typed, validated rows.

The knowledge folder's own reader (``gpucheck.knowledge.load.parse_table``) checks the conventions every
table follows (a ``[table]`` header, a source and a date on every row); this module then checks every row's
own shape: required keys, known causes, weights in 0..1, lower-case needles, and regexes that stay bounded on
untrusted text (no nested unbounded quantifiers, no unbounded ``.``, no backreferences, no lookarounds). A
malformed row is a ``CatalogueError`` naming the row, never a half-loaded catalogue.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from gpucheck.knowledge.load import KnowledgeError, parse_table

if sys.version_info >= (3, 11):
    import re._parser as sre_parse  # type: ignore[import-not-found]
else:  # pragma: no cover - Python 3.10
    import sre_parse  # type: ignore[import-not-found]

CATALOGUE = Path(__file__).resolve().parent.parent / "knowledge" / "signatures.toml"
TABLE = "signatures"
"""The knowledge table's name (its file is ``gpucheck/knowledge/signatures.toml``)."""
MIN_NEEDLE = 6
"""Shortest needle accepted: shorter ones match too much ordinary text."""


class CatalogueError(ValueError):
    """A catalogue row does not have the documented shape."""


@dataclass(frozen=True, slots=True)
class Cause:
    """One root cause: what is wrong, its generic fix, and the doctor checks that decide it."""

    id: str
    title: str
    layer: str
    fix: str
    checks: tuple[str, ...]
    confirm: tuple[str, ...] = ()
    """Words (lower case) a failing finding of ``checks`` must contain to confirm this cause; empty: any."""


@dataclass(frozen=True, slots=True)
class CauseWeight:
    """A cause a signature points to, with its prior weight."""

    cause: str
    weight: float


@dataclass(frozen=True, slots=True)
class Signature:
    """One recognisable error text."""

    id: str
    layer: str
    needles: tuple[str, ...]
    """Lower-case plain substrings; a line holding any of them is a candidate."""
    regex: re.Pattern[str] | None
    """Applied to a candidate line: it must match, and its named groups become facts."""
    meaning: str
    causes: tuple[CauseWeight, ...]
    sources: tuple[str, ...]
    failure: bool
    """Whether the text reports a failure (False for warnings and information)."""


@dataclass(frozen=True, slots=True)
class Catalogue:
    """All causes and signatures, in file order."""

    causes: Mapping[str, Cause]
    signatures: tuple[Signature, ...]

    def checks_for(self, signature: Signature) -> tuple[str, ...]:
        """The doctor checks that decide between a signature's causes, in cause order."""
        return tuple(dict.fromkeys(c for w in signature.causes for c in self.causes[w.cause].checks))


_UNBOUNDED = sre_parse.MAXREPEAT
_REPEATS = {sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT, getattr(sre_parse, "POSSESSIVE_REPEAT", None)} - {
    None
}
_FORBIDDEN = {sre_parse.GROUPREF, sre_parse.ASSERT, sre_parse.ASSERT_NOT, sre_parse.GROUPREF_EXISTS}


def _has_unbounded_repeat(items: Any) -> bool:
    for op, arg in items:
        if op in _REPEATS and (arg[1] == _UNBOUNDED or _has_unbounded_repeat(arg[2])):
            return True
        if op in _REPEATS:
            continue
        for child in _children(op, arg):
            if _has_unbounded_repeat(child):
                return True
    return False


def _children(op: Any, arg: Any) -> list[Any]:
    if op is sre_parse.SUBPATTERN:
        return [arg[-1]]
    if op is sre_parse.BRANCH:
        return list(arg[1])
    if op in _REPEATS:
        return [arg[2]]
    return []


def regex_problem(pattern: str) -> str | None:
    """Why a pattern is not safe on untrusted text, or None.

    Refused: an unbounded quantifier nested in another, ``.`` repeated without a bound, backreferences and
    lookarounds. Patterns are also only ever applied to a bounded window around their needle
    (``gpucheck/explain/scan.py``), so each costs at most a constant per line.
    """
    try:
        parsed = sre_parse.parse(pattern)
    except re.error as exc:
        return f"does not compile: {exc}"

    def walk(items: Any) -> str | None:
        for op, arg in items:
            if op in _FORBIDDEN:
                return f"uses {str(op).lower()} (backreferences and lookarounds are not allowed)"
            if op in _REPEATS and arg[1] == _UNBOUNDED and _has_unbounded_repeat(arg[2]):
                return "nests an unbounded quantifier inside another (catastrophic backtracking)"
            if op in _REPEATS and arg[1] == _UNBOUNDED and any(o is sre_parse.ANY for o, _ in arg[2]):
                return "repeats '.' without a bound (write .{0,N})"
            for child in _children(op, arg):
                problem = walk(child)
                if problem:
                    return problem
        return None

    return walk(parsed)


def _str(row: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = row.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise CatalogueError(f"{where}: {key!r} must be a non-empty string")
    return value.strip()


def _strs(row: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = row.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise CatalogueError(f"{where}: {key!r} must be a string or a list of strings")
    return tuple(value)


_COMMON_KEYS = {"source", "see_also", "checked", "written_by", "note"}
"""Keys every knowledge row may carry (the folder's conventions)."""


def _cause(row: Any, index: int) -> Cause:
    where = f"cause #{index + 1}"
    if not isinstance(row, Mapping):
        raise CatalogueError(f"{where}: must be a table")
    cause_id = _str(row, "id", where)
    where = f"cause {cause_id!r}"
    unknown = set(row) - {"id", "title", "layer", "fix", "checks", "confirm"} - _COMMON_KEYS
    if unknown:
        raise CatalogueError(f"{where}: unknown keys {sorted(unknown)}")
    confirm = _strs(row, "confirm", where)
    if any(term != term.lower() for term in confirm):
        raise CatalogueError(f"{where}: 'confirm' words must be lower case")
    return Cause(
        cause_id,
        _str(row, "title", where),
        _str(row, "layer", where),
        _str(row, "fix", where),
        _strs(row, "checks", where),
        confirm,
    )


def _weights(row: Mapping[str, Any], where: str, causes: Mapping[str, Cause]) -> tuple[CauseWeight, ...]:
    items = row.get("causes")
    if not isinstance(items, list) or not items:
        raise CatalogueError(f"{where}: 'causes' must be a non-empty list")
    weights = []
    for item in items:
        if not isinstance(item, dict) or set(item) != {"cause", "weight"}:
            raise CatalogueError(f"{where}: each cause is {{ cause = ..., weight = ... }}, got {item!r}")
        if item["cause"] not in causes:
            raise CatalogueError(f"{where}: unknown cause {item['cause']!r}")
        weight = item["weight"]
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 < weight <= 1:
            raise CatalogueError(f"{where}: weight of {item['cause']!r} must be in (0, 1]")
        weights.append(CauseWeight(item["cause"], float(weight)))
    return tuple(weights)


_SIGNATURE_KEYS = {"id", "layer", "needle", "regex", "meaning", "causes", "failure"} | _COMMON_KEYS


def _signature(row: Any, index: int, causes: Mapping[str, Cause]) -> Signature:
    where = f"signature #{index + 1}"
    if not isinstance(row, Mapping):
        raise CatalogueError(f"{where}: must be a table")
    sig_id = _str(row, "id", where)
    where = f"signature {sig_id!r}"
    unknown = set(row) - _SIGNATURE_KEYS
    if unknown:
        raise CatalogueError(f"{where}: unknown keys {sorted(unknown)}")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", sig_id):
        raise CatalogueError(f"{where}: id must be snake_case")
    needles = _strs(row, "needle", where)
    for needle in needles:
        if needle != needle.lower() or len(needle) < MIN_NEEDLE:
            raise CatalogueError(f"{where}: needle {needle!r} must be lower case, ≥ {MIN_NEEDLE} characters")
    if not needles:
        raise CatalogueError(f"{where}: needs at least one needle")
    regex = None
    if "regex" in row:
        pattern = _str(row, "regex", where)
        problem = regex_problem(pattern)
        if problem:
            raise CatalogueError(f"{where}: regex {problem}")
        regex = re.compile(pattern, re.IGNORECASE)
    sources = (_str(row, "source", where), *_strs(row, "see_also", where))
    if not all(s.startswith("https://") for s in sources):
        raise CatalogueError(f"{where}: 'source' and 'see_also' must be https URLs")
    failure = row.get("failure", True)
    if not isinstance(failure, bool):
        raise CatalogueError(f"{where}: 'failure' must be true or false")
    return Signature(
        sig_id,
        _str(row, "layer", where),
        needles,
        regex,
        _str(row, "meaning", where),
        _weights(row, where, causes),
        sources,
        failure,
    )


def parse_catalogue(rows_by_kind: Mapping[str, Sequence[Mapping[str, Any]]]) -> Catalogue:
    """Validate the rows (``[[cause]]`` and ``[[signature]]``) and build the catalogue."""
    unknown = set(rows_by_kind) - {"cause", "signature"}
    if unknown:
        raise CatalogueError(f"unknown row kinds {sorted(unknown)}: only [[cause]] and [[signature]]")
    causes: dict[str, Cause] = {}
    for index, row in enumerate(rows_by_kind.get("cause", ())):
        cause = _cause(row, index)
        if cause.id in causes:
            raise CatalogueError(f"cause {cause.id!r} is defined twice")
        causes[cause.id] = cause
    if not causes:
        raise CatalogueError("the catalogue has no [[cause]] rows")
    rows = rows_by_kind.get("signature", ())
    if not rows:
        raise CatalogueError("the catalogue has no [[signature]] rows")
    signatures = tuple(_signature(row, i, causes) for i, row in enumerate(rows))
    seen: set[str] = set()
    for sig in signatures:
        if sig.id in seen:
            raise CatalogueError(f"signature {sig.id!r} is defined twice")
        seen.add(sig.id)
    return Catalogue(causes, signatures)


def load_catalogue_text(text: str) -> Catalogue:
    """Parse catalogue TOML text (for tests and alternative catalogues)."""
    try:
        table = parse_table(TABLE, text)
    except KnowledgeError as exc:
        raise CatalogueError(str(exc)) from None
    return parse_catalogue(table.rows)


@lru_cache(maxsize=1)
def load_catalogue(path: str = str(CATALOGUE)) -> Catalogue:
    """The shipped catalogue (read once)."""
    return load_catalogue_text(Path(path).read_text(encoding="utf-8"))


def all_check_ids(catalogue: Catalogue) -> Sequence[str]:
    """Every doctor check id the catalogue names."""
    return tuple(dict.fromkeys(c for cause in catalogue.causes.values() for c in cause.checks))
