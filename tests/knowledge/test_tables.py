"""The knowledge tables follow their conventions: a schema each, a source and a date on every row, and no
version table left in Python code outside gpucheck/knowledge/."""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
from pathlib import Path

import jsonschema
import pytest
import tomllib

import gpucheck
from gpucheck.knowledge import load

PACKAGE = Path(gpucheck.__file__).parent
KNOWLEDGE = PACKAGE / "knowledge"
TABLE_FILES = sorted(KNOWLEDGE.glob("*.toml"))


def _as_json(value):
    """tomllib's dates as the schema sees them (strings)."""
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    return value.isoformat() if isinstance(value, dt.date) else value


def test_every_table_this_loader_reads_exists():
    assert {p.stem for p in TABLE_FILES} >= set(load.TABLES)


@pytest.mark.parametrize("path", TABLE_FILES, ids=lambda p: p.name)
def test_every_row_has_a_source_and_a_date(path: Path):
    data = tomllib.loads(path.read_text())
    rows = [(kind, row) for kind, value in data.items() if kind != "table" for row in value]
    assert rows, f"{path.name} has no rows"
    for kind, row in rows:
        assert str(row.get("source", "")).startswith("https://"), f"{path.name} [[{kind}]] {row}"
        assert isinstance(row.get("checked"), dt.date), f"{path.name} [[{kind}]] {row}"
    assert isinstance(data["table"]["checked"], dt.date)


@pytest.mark.parametrize("name", load.TABLES)
def test_each_table_matches_its_json_schema(name: str):
    schema = json.loads((KNOWLEDGE / "schema" / f"{name}.schema.json").read_text())
    data = _as_json(tomllib.loads((KNOWLEDGE / f"{name}.toml").read_text()))
    jsonschema.validate(data, schema)


def test_the_loader_refuses_a_row_without_a_source():
    text = (KNOWLEDGE / "tf_builds.toml").read_text()
    broken = text.replace('source = "https://www.tensorflow.org/install/source#gpu"\n', "", 1)
    assert broken != text
    with pytest.raises(load.KnowledgeError, match=r"\[\[build\]\] #1: every row needs source"):
        load.parse_table("tf_builds", broken)
    with pytest.raises(load.KnowledgeError, match="every row needs source"):
        load.parse_table(
            "tf_builds", text.replace("https://www.tensorflow.org", "http://www.tensorflow.org", 1)
        )


def test_the_loader_refuses_a_row_without_a_date_and_a_file_without_a_header():
    text = (KNOWLEDGE / "container.toml").read_text()
    pattern = r"(\[\[fact\]\][^\[]*?)checked = 2026-12-01\n"
    broken = re.sub(pattern, r"\1", text, count=1, flags=re.S)
    assert broken != text
    with pytest.raises(load.KnowledgeError, match="checked"):
        load.parse_table("container", broken)
    with pytest.raises(load.KnowledgeError, match=r"\[table\] header"):
        load.parse_table("container", text.replace('name = "container"', 'name = "other"'))


def test_a_schema_rejects_a_row_without_a_source():
    schema = json.loads((KNOWLEDGE / "schema" / "cuda_drivers.schema.json").read_text())
    data = _as_json(tomllib.loads((KNOWLEDGE / "cuda_drivers.toml").read_text()))
    del data["branch"][0]["source"]
    with pytest.raises(jsonschema.ValidationError, match="'source' is a required property"):
        jsonschema.validate(data, schema)


VERSION_LIKE = re.compile(
    r"^(?:[Vv]?\d{1,2}\.\d{1,2}(?:\.\d{1,3})?|\d{3}\.\d{2,3}(?:\.\d{2})?|cu\d{3}|sm_\d{2,3}[af]?|R\d{3})$"
)
"""A CUDA / driver / framework version, a wheel variant or an architecture, as a string literal."""


def _version_tables(tree: ast.AST) -> list[tuple[int, list[str]]]:
    """Dict/list/tuple/set literals holding three or more version-like strings (a table in code)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Dict, ast.List, ast.Tuple, ast.Set)):
            children = [*node.keys, *node.values] if isinstance(node, ast.Dict) else list(node.elts)
            values = [c.value for c in children if isinstance(c, ast.Constant) and isinstance(c.value, str)]
            versions = [v for v in values if VERSION_LIKE.match(v)]
            if len(versions) >= 3:
                found.append((node.lineno, versions))
    return found


def test_the_detector_finds_a_version_table():
    sample = 'DRIVERS = {"12.4": "550.54.14", "12.6": "560.28.03"}\nARCHS = ("sm_75", "sm_80", "sm_86")\n'
    assert [line for line, _ in _version_tables(ast.parse(sample))] == [1, 2]


def test_no_version_table_in_python_outside_the_knowledge_folder():
    offences = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if KNOWLEDGE in path.parents:
            continue
        for line, versions in _version_tables(ast.parse(path.read_text())):
            offences.append(f"{path.relative_to(PACKAGE)}:{line}: {versions[:4]}")
    assert not offences, "move these tables into gpucheck/knowledge/*.toml:\n" + "\n".join(offences)
