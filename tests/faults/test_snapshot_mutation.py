"""Type-mutated snapshots through the real CLI: exit 0/1 with findings, or exit 2 naming the field — never 3.

Hypothesis replaces values anywhere in real snapshots with values of other JSON types (and with huge
integers, deep nesting, lone surrogates, markup). Oracle: the published JSON Schema, checked with the
``jsonschema`` package: a document it rejects must be refused with exit 2 and a message naming a ``$.`` path;
a document it accepts must be diagnosed (exit 0 or 1) and rendered in every format, ``-v`` included.
"""

from __future__ import annotations

import copy
import json
import traceback
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from gpucheck.cli import app

FIXTURES = Path(__file__).parents[1] / "fixtures" / "system" / "snapshots"
SCHEMA = json.loads((Path(__file__).parents[2] / "gpucheck/schemas/snapshot.schema.json").read_text())
BASES = [*sorted(FIXTURES.glob("*.json")), "this-machine"]
"""The recorded snapshots, and one this machine takes of itself (every collector but the framework ones)."""

EXAMPLES = 60
"""Mutated documents per base snapshot (bounded: each is a full doctor run in-process)."""


def _paths(doc: Any, max_depth: int = 12) -> list[tuple]:
    """Every path to a value in a JSON document (the root excluded), down to ``max_depth`` levels."""
    found: list[tuple] = []
    stack: list[tuple[Any, tuple]] = [(doc, ())]
    while stack:
        node, prefix = stack.pop()
        if len(prefix) >= max_depth:
            continue
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            found.append((*prefix, key))
            stack.append((value, (*prefix, key)))
    return sorted(found, key=repr)


SPLICED = {
    "__a 5000-digit integer__": "9" * 5000,
    "__nested 300 deep__": "[" * 300 + "]" * 300,
    "__nested 100000 deep__": "[" * 100_000 + "]" * 100_000,
}
"""Placeholders spliced into the file text for what Python objects cannot carry through ``json.dumps`` and
hypothesis's reporting (a 5000-digit integer, nesting deeper than the recursion limit)."""

HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["[/bold]", "[red]x[/red", "\ud800", "\x1b[2J", "-1", "", "nvidia-smi", *SPLICED]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def _set(doc: Any, path: tuple, value: Any) -> None:
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


@st.composite
def mutated(draw: st.DrawFn, base: dict) -> dict:
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(doc)
        if not paths:
            break
        _set(doc, draw(st.sampled_from(paths)), draw(HOSTILE))
    return doc


def _schema_valid(text: str) -> bool:
    """Whether the file text is JSON Python can load and the published schema accepts."""
    try:
        jsonschema.validate(json.loads(text), SCHEMA)
    except (ValueError, RecursionError, jsonschema.ValidationError):
        return False
    return True


def _base(source: Path | str, tmp_path: Path) -> dict:
    if isinstance(source, Path):
        return json.loads(source.read_text())
    out = tmp_path / "base.json"
    only = "driver,gpu,toolkit,compat,container,environ,wsl"
    result = CliRunner().invoke(app, ["snapshot", "-o", str(out), "--only", only, "--timeout", "60"])
    assert result.exit_code == 0, result.stderr
    return json.loads(out.read_text())


@pytest.mark.parametrize("source", BASES, ids=lambda p: getattr(p, "stem", p))
def test_mutated_snapshots_are_diagnosed_or_refused_with_exit_2(source: Path | str, tmp_path: Path) -> None:
    base = _base(source, tmp_path)
    runner = CliRunner()

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(doc=mutated(base))
    def check(doc: dict) -> None:
        path = tmp_path / "mutated.json"
        text = json.dumps(doc)
        for placeholder, raw in SPLICED.items():
            text = text.replace(json.dumps(placeholder), raw)
        path.write_text(text, encoding="utf-8")
        valid = _schema_valid(text)
        for args in (["--json"], ["-v"], ["--markdown"], ["--junit", str(tmp_path / "r.xml")]):
            result = runner.invoke(app, ["doctor", "--replay", str(path), *args], catch_exceptions=True)
            crash = result.exception if not isinstance(result.exception, SystemExit) else None
            assert crash is None, "".join(traceback.format_exception(crash))
            if valid:
                assert result.exit_code in (0, 1), (args, result.stderr[-500:])
            else:
                assert result.exit_code == 2, (args, result.exit_code, result.stdout[-300:])
                lines = result.stderr.strip().splitlines()
                assert len(lines) == 1 and lines[0].startswith("gpucheck: error: "), result.stderr
                break

    check()
