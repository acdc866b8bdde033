"""Every fixture says what it is: recorded (from where, whole or what was cut), derived, or written.

The record is ``PROVENANCE.toml`` files under tests/fixtures/: each lists ``[[file]]`` entries whose
``path`` (relative to that file's folder, globs allowed) names fixtures. An entry has a ``kind``:

- ``recorded``: verbatim output of a real machine. Needs ``source`` (URL, or "development machine (...)")
  and either ``whole = true`` or ``cut = "what was cut and why"``.
- ``derived``: a recording with values filled in or lines from several recordings joined. Needs ``source``
  and ``basis`` (what was changed, from what).
- ``written``: made by hand. Needs ``basis`` (by whom, from what).

A file may be covered by an entry in its own folder's PROVENANCE.toml or any parent's up to tests/fixtures/.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
KINDS = {"recorded", "derived", "written"}
CALLED_RECORDED = re.compile(r"\b(recorded|verbatim|captured|real capture)\b", re.IGNORECASE)


@functools.cache
def _manifests() -> list[Path]:
    return sorted(FIXTURES.rglob("PROVENANCE.toml"))


@functools.cache
def _entries() -> list[tuple[Path, dict]]:
    found = []
    for manifest in _manifests():
        data = tomllib.loads(manifest.read_text())
        found.extend((manifest.parent, entry) for entry in data.get("file", []))
    return found


@functools.cache
def _fixture_files() -> list[Path]:
    return sorted(
        p
        for p in FIXTURES.rglob("*")
        if p.is_file() and p.name != "PROVENANCE.toml" and "__pycache__" not in p.parts
    )


def _covers(base: Path, pattern: str, path: Path) -> bool:
    try:
        rel = path.relative_to(base).as_posix()
    except ValueError:
        return False
    return fnmatch.fnmatchcase(rel, pattern)


@functools.cache
def _texts() -> tuple[tuple[Path, tuple[str, ...]], ...]:
    """The lines of every test module, test README and the project README, read once."""
    tests = ROOT / "tests"
    sources = [*tests.rglob("*.py"), *tests.rglob("*.md"), ROOT / "README.md"]
    return tuple(
        (source, tuple(source.read_text(errors="replace").splitlines()))
        for source in sources
        if source.is_file() and source.name != Path(__file__).name
    )


def _kind_of(path: Path) -> set[str]:
    return {entry["kind"] for base, entry in _entries() if _covers(base, entry["path"], path)}


def test_every_manifest_parses_and_every_entry_is_complete() -> None:
    assert _manifests(), "no PROVENANCE.toml under tests/fixtures"
    problems = []
    for base, entry in _entries():
        where = f"{base.relative_to(FIXTURES)}/PROVENANCE.toml: {entry.get('path')!r}"
        kind = entry.get("kind")
        if kind not in KINDS:
            problems.append(f"{where}: kind {kind!r} is not one of {sorted(KINDS)}")
            continue
        if kind in ("recorded", "derived") and not str(entry.get("source", "")).strip():
            problems.append(f"{where}: a {kind} fixture needs its source")
        if kind == "recorded" and entry.get("whole") is not True and not str(entry.get("cut", "")).strip():
            problems.append(f"{where}: a recording is whole (whole = true) or says what was cut (cut = ...)")
        if kind in ("derived", "written") and not str(entry.get("basis", "")).strip():
            problems.append(f"{where}: a {kind} fixture needs its basis (by whom, from what)")
        if not any(_covers(base, entry["path"], p) for p in _fixture_files()):
            problems.append(f"{where}: names no file (stale entry)")
    assert not problems, "\n".join(problems)


def test_every_fixture_file_has_a_provenance_entry() -> None:
    entries = _entries()
    missing = [
        p.relative_to(FIXTURES).as_posix()
        for p in _fixture_files()
        if not any(_covers(base, entry["path"], p) for base, entry in entries)
    ]
    assert not missing, "fixtures without a PROVENANCE.toml entry:\n" + "\n".join(missing)


def test_no_fixture_is_called_both_recorded_and_written() -> None:
    mixed = [
        p.relative_to(FIXTURES).as_posix() for p in _fixture_files() if {"recorded", "written"} <= _kind_of(p)
    ]
    assert not mixed, f"contradictory provenance: {mixed}"


@pytest.mark.parametrize(
    "written",
    [
        p
        for p in _fixture_files()
        if _kind_of(p) == {"written"} and p.suffix in (".json", ".xml", ".txt", ".csv")
    ],
    ids=lambda p: p.relative_to(FIXTURES).as_posix(),
)
def test_a_written_fixture_is_not_called_recorded_where_it_is_used(written: Path) -> None:
    """A line naming a hand-written fixture must not call it recorded, verbatim or captured."""
    offenders = []
    for source, lines in _texts():
        for i, line in enumerate(lines):
            if written.name in line:
                window = " ".join(lines[max(i - 2, 0) : i + 1])
                if CALLED_RECORDED.search(window) and "written" not in window.lower():
                    offenders.append(f"{source.relative_to(ROOT)}:{i + 1}: {line.strip()[:120]}")
    assert not offenders, f"{written.name} is hand-written but called recorded:\n" + "\n".join(offenders)
