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

from gpucheck.knowledge import load

PACKAGE = Path(__file__).resolve().parents[2] / "gpucheck"
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


HEADER = '[table]\nname = "t"\ndescription = "d"\nschema = 1\nchecked = 2026-12-01\n'
ROW = 'source = "https://example.org/a"\nchecked = 2026-12-01\n'


def test_parse_table_reads_header_rows_and_note():
    table = load.parse_table("t", HEADER + 'note = "n"\n[[row]]\nx = 1\n' + ROW + "[[row]]\nx = 2\n" + ROW)
    assert (table.name, table.description, table.checked, table.note) == ("t", "d", dt.date(2026, 12, 1), "n")
    assert [r["x"] for r in table.rows["row"]] == [1, 2]
    assert load.parse_table("t", HEADER).note == "" and load.parse_table("t", HEADER).rows == {}
    assert table.header == {
        "name": "t",
        "description": "d",
        "schema": 1,
        "checked": dt.date(2026, 12, 1),
        "note": "n",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[table\n", "t.toml: "),
        ('[table]\nname = "t"\n', r"\[table\] needs description and checked"),
        ('[table]\nname = "t"\ndescription = "d"\nchecked = "2026-12-01"\n', "checked = YYYY-MM-DD"),
        ('[table]\nname = "t"\nchecked = 2026-12-01\n', r"\[table\] needs description"),
        ("x = 1\n", r"needs a \[table\] header with name = 't'"),
        ("row = 1\n" + HEADER, r"top-level 'row' must be an array of tables \[\[row\]\]"),
        ("row = [1]\n" + HEADER, r"t.toml \[\[row\]\] #1: not a table"),
        (HEADER + '[[row]]\nsource = "https://e.org"\n', r"t.toml \[\[row\]\] #1: every row needs checked"),
        (
            HEADER + "[[row]]\n" + ROW + "[[row]]\nchecked = 2026-12-01\n",
            r"\[\[row\]\] #2: every row needs source",
        ),
        (HEADER + "[[row]]\nsource = 3\nchecked = 2026-12-01\n", r"needs source = \"https://...\" \(got 3\)"),
        (HEADER + "[[row]]\n" + ROW + 'written_by = "someone"\n', "written_by must be 'hand' or"),
    ],
)
def test_parse_table_refuses_broken_conventions(text: str, message: str):
    with pytest.raises(load.KnowledgeError, match=message):
        load.parse_table("t", text)


def test_written_by_accepts_hand_and_the_refresh_script():
    for writer in ("hand", "scripts/refresh-knowledge.py"):
        assert load.parse_table("t", HEADER + "[[row]]\n" + ROW + f'written_by = "{writer}"\n').rows["row"]


def test_lookups_at_the_edges_of_the_tables():
    assert load.driver_branch("346.46").cuda == "7.0"  # the oldest branch
    assert load.driver_branch("345.99") is None  # older than every branch
    assert load.driver_branch("615.0").cuda == "13.4"  # the newest branch itself is not past it
    newer = load.driver_branch(" 616.10 ")
    assert (newer.subject, newer.newest, newer.table) == ("driver 616.10", "615", "cuda_drivers")
    assert newer.checked == dt.date(2026, 12, 1)
    assert load.driver_branch("abc") is None and load.driver_branch(None) is None
    assert load.cuda_release("7.0").driver == "346.46" and load.cuda_release("6.5") is None
    assert load.cuda_release("13.4").driver == "615" and not load.cuda_release("13.4").exact
    assert load.cuda_release("13.3").exact
    past = load.cuda_release("13.5")
    assert (past.subject, past.newest, past.checked) == ("CUDA 13.5", "13.4", dt.date(2026, 12, 1))
    assert past.table == "cuda_drivers"
    assert load.release_of("V12.4.131") == "12.4" and load.release_of(12.4) is None
    assert (
        load.newest_real_release_at_most("12.7") == "12.6" and load.newest_real_release_at_most("x") is None
    )
    assert load.newest_real_release_at_most("6.0") is None
    assert (
        load.newest_real_release_at_most("12.6") == "12.6"
        and load.newest_real_release_at_most("7.0") == "7.0"
    )
    assert load.recommended_branch() == 580 and load.legacy_last_branch() == 580
    assert load.major_floors() == {11: "450.80.02", 12: "525.60.13", 13: "580.65.06"}


def test_gpu_generation_lookups():
    assert (
        load.architecture_of("8.6").name == "Ampere"
        and load.architecture_of("9.0").open_modules == "supported"
    )
    blackwell = load.architecture_of("12.0")
    assert (blackwell.name, blackwell.open_modules, blackwell.last_branch) == ("Blackwell", "required", None)
    pascal = load.architecture_of("6.1")
    assert (pascal.name, pascal.open_modules, pascal.last_branch, pascal.last_cuda) == (
        "Pascal",
        "unsupported",
        580,
        "12.9",
    )
    assert load.architecture_of("3.7").last_branch == 470
    assert load.architecture_of("10.7").name == "Rubin"
    newer = load.architecture_of("13.0")
    assert (newer.subject, newer.newest, newer.table) == (
        "compute capability 13.0",
        "12.1",
        "gpu_generations",
    )
    assert load.architecture_of("8.8") is None  # a gap, not past the table
    assert load.architecture_of(None, 0x2901).name == "Blackwell" and load.architecture_of(
        None, 0x2FFF
    ).name == ("Blackwell")
    assert load.architecture_of(None, 0x28FF) is None and load.architecture_of(None, 0x3000) is None
    assert load.architecture_of("junk") is None and load.architecture_of() is None
    assert load.product_of(pci_device_id=0x2342).name == "Grace Hopper"
    assert load.product_of(name="NVIDIA GH200 480GB").open_modules == "required"
    assert load.product_of(name="NVIDIA H100 80GB HBM3", pci_device_id=0x2330) is None


def test_framework_and_container_readers():
    assert load.torch_index() == "https://download.pytorch.org/whl"
    assert [w.variant for w in load.torch_series("2.14.1+cu130")] == ["cu132", "cu130", "cu126"]
    assert load.torch_series("2.12.0") is None and load.torch_series("nonsense") is None
    cu126 = next(w for w in load.torch_series("2.14.0") if w.variant == "cu126")
    assert cu126.archs("aarch64") == ("sm_80", "sm_90") and cu126.archs() == cu126.archs_x86_64
    assert cu126.archs("arm64") == cu126.archs_aarch64
    releases = {r.version: r for r in load.torch_releases()}
    assert releases["2.13.0"].default_cuda == "13.0" and releases["2.13.0"].uploaded == dt.date(2026, 7, 8)
    assert load.tf_min_driver() == "525.60.13" and load.tf_min_driver("wsl2") == "528.33"
    assert load.tf_build("2.11.0") is None and load.tf_build("x") is None
    fact = load.container_facts()["docker_cdi_default"]
    assert (fact.component, fact.since, fact.value) == ("docker", "28.2.0", "/etc/cdi /var/run/cdi")
    assert (
        fact.holds_for("28.2.0") is True and fact.holds_for("28.1.9") is False and fact.holds_for("") is None
    )
    pins = load.image_pins()
    assert pins.ubuntu_python == {"22.04": "3.10", "24.04": "3.12"}
    assert pins.apt_pins["24.04"] == {"python3": "3.12.3-0ubuntu2.1", "python3-pip": "24.0+dfsg-1ubuntu1.3"}
    assert pins.torch_for_cuda == {"12.4": "2.6.0", "12.8": "2.8.0"} and pins.tensorflow_version == "2.18.1"
    assert pins.default_pairs == (("12.4.1", "22.04"), ("12.8.1", "24.04"))
    assert load.sources("tf_builds")[:2] == [
        "https://www.tensorflow.org/install/source#gpu",
        ("https://www.tensorflow.org/install/pip"),
    ]
