"""The signature catalogue: the shipped file loads and is consistent with doctor, every row matches real text,
and the loader refuses malformed rows and patterns that could backtrack on untrusted text."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import jsonschema
import pytest

import gpucheck
from gpucheck.diagnose.registry import load_checks
from gpucheck.explain.catalogue import (
    CatalogueError,
    all_check_ids,
    load_catalogue,
    load_catalogue_text,
    regex_problem,
)
from gpucheck.explain.scan import scan
from gpucheck.explain.text import clean
from tests.explain.test_corpus import CASES, load_case

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SAMPLES = Path(__file__).parent / "signature_samples.toml"
KNOWLEDGE = Path(gpucheck.__file__).parent / "knowledge"


def _samples() -> list[dict]:
    return tomllib.loads(SAMPLES.read_text(encoding="utf-8"))["sample"]


def test_every_check_a_cause_names_exists_in_doctor():
    catalogue = load_catalogue()
    known = set(load_checks())
    assert [c for c in all_check_ids(catalogue) if c not in known] == []


def test_every_cause_is_reachable_from_a_signature():
    catalogue = load_catalogue()
    used = {w.cause for s in catalogue.signatures for w in s.causes}
    # causes only ranking rules propose (from facts, not from an error line) are listed here on purpose
    rule_only = {"wsl1_no_gpu"}
    assert set(catalogue.causes) - used - rule_only == set()


def test_every_signature_matches_real_text():
    """Row by row: each signature is triggered by at least one verbatim public text (corpus or samples)."""
    catalogue = load_catalogue()
    matched: set[str] = set()
    for path in CASES:
        matched |= {h.signature.id for h in scan(catalogue, clean(load_case(path)["text"]))}
    for sample in _samples():
        assert sample["source"].startswith("https://")
        hits = {h.signature.id for h in scan(catalogue, clean(sample["text"]))}
        assert sample["signature"] in hits, f"{sample['signature']} misses its sample {sample['text']!r}"
        matched |= hits
    assert [s.id for s in catalogue.signatures if s.id not in matched] == []


@pytest.mark.parametrize("sample", _samples(), ids=lambda s: s["signature"])
def test_sample_hit_reports_its_line(sample):
    padded = "unrelated first line\n" + sample["text"]
    hit = next(h for h in scan(load_catalogue(), clean(padded)) if h.signature.id == sample["signature"])
    assert hit.line >= 2
    assert hit.text.rstrip("…") in padded


HEADER = '[table]\nname = "signatures"\ndescription = "d"\nschema = 1\nchecked = 2026-12-01\n\n'
CAUSE = (
    '[[cause]]\nid = "c"\ntitle = "t"\nlayer = "gpu"\nfix = "f"\nchecks = ["gpu.present"]\n'
    'source = "https://example.org/c"\nchecked = 2026-12-01\n\n'
)
ROW = (
    '[[signature]]\nid = "s"\nlayer = "gpu"\nneedle = "some error"\nmeaning = "m"\n'
    'causes = [{ cause = "c", weight = 0.5 }]\nsource = "https://example.org/x"\nchecked = 2026-12-01\n\n'
)


def test_minimal_catalogue_loads():
    catalogue = load_catalogue_text(HEADER + CAUSE + ROW)
    assert [s.id for s in catalogue.signatures] == ["s"]
    assert catalogue.checks_for(catalogue.signatures[0]) == ("gpu.present",)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('needle = "some error"', 'needle = "Some Error"'), "lower case"),
        (('needle = "some error"', 'needle = "err"'), "characters"),
        (('cause = "c"', 'cause = "nope"'), "unknown cause"),
        (("weight = 0.5", "weight = 1.5"), "weight"),
        (('source = "https://example.org/x"', 'source = "http://example.org/x"'), "https"),
        (("checked = 2026-12-01", 'checked = "yesterday"'), "checked"),
        (('meaning = "m"', 'meaning = "m"\nsee_also = ["ftp://x"]'), "https"),
        (('meaning = "m"', 'meaning = "m"\nregex = "(a+)+b"'), "nests an unbounded"),
        (('meaning = "m"', 'meaning = "m"\nregex = "x.*y"'), "without a bound"),
        (('meaning = "m"', 'meaning = "m"\nregex = "(a)\\\\1"'), "backreferences"),
        (('meaning = "m"', 'meaning = "m"\nregex = "(?=a)b"'), "lookarounds"),
        (('meaning = "m"', 'meaning = "m"\nregex = "(unclosed"'), "does not compile"),
        (('meaning = "m"', 'meaning = "m"\nfailure = "yes"'), "true or false"),
        (('meaning = "m"', 'meaning = "m"\ncolour = "red"'), "unknown keys"),
        (('id = "s"', 'id = "Not Snake"'), "snake_case"),
    ],
)
def test_malformed_rows_are_refused(change, message):
    old, new = change
    with pytest.raises(CatalogueError, match=message):
        load_catalogue_text(HEADER + CAUSE + ROW.replace(old, new))


def test_duplicate_ids_bad_toml_and_missing_parts_are_refused():
    with pytest.raises(CatalogueError, match="defined twice"):
        load_catalogue_text(HEADER + CAUSE + ROW + ROW)
    with pytest.raises(CatalogueError, match="defined twice"):
        load_catalogue_text(HEADER + CAUSE + CAUSE + ROW)
    with pytest.raises(CatalogueError, match="signatures.toml"):
        load_catalogue_text("[[signature]\n")
    with pytest.raises(CatalogueError, match="no \\[\\[cause\\]\\] rows"):
        load_catalogue_text(HEADER + ROW.replace('cause = "c"', 'cause = "c"'))
    with pytest.raises(CatalogueError, match=r"\[table\] header"):
        load_catalogue_text(CAUSE + ROW)
    with pytest.raises(CatalogueError, match="unknown row kinds"):
        extra = '[[extra]]\nsource = "https://x.org"\nchecked = 2026-12-01\n'
        load_catalogue_text(HEADER + CAUSE + ROW + extra)


def test_shipped_catalogue_matches_its_json_schema():
    schema = json.loads((KNOWLEDGE / "schema" / "signatures.schema.json").read_text())
    jsonschema.validate(_as_json(tomllib.loads((KNOWLEDGE / "signatures.toml").read_text())), schema)


def _as_json(value):
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    return value.isoformat() if isinstance(value, dt.date) else value


@pytest.mark.parametrize(
    ("pattern", "safe"),
    [
        (r"found version (?P<v>\d+)", True),
        (r"(?:\.[0-9]+){0,4}", True),
        (r"(a|b)*c", True),
        (r".{0,80}? with", True),
        (r"(a+)+", False),
        (r"(?:x*y)*", False),
        (r"(\w+ )*x", False),
        (r"a.+b", False),
    ],
)
def test_regex_safety_rule(pattern, safe):
    assert (regex_problem(pattern) is None) is safe
