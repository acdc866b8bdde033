"""The corpus: real error texts and pasted outputs from public threads, with the cause each thread reached.

Every file under tests/explain/corpus/ holds ``source`` (the thread), ``resolution`` (what the thread
concluded), ``top`` (the cause id that resolution names) and ``text`` (verbatim from the thread). Offline,
explain must rank ``top`` first; cases with a ``[live]`` table are also replayed on a reproduced host
(test_live.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gpucheck.explain.catalogue import load_catalogue
from gpucheck.explain.engine import Status, explain_text
from gpucheck.explain.text import clean

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CORPUS = Path(__file__).parent / "corpus"
CASES = sorted(CORPUS.glob("*.toml"))


def load_case(path: Path) -> dict:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def test_corpus_is_large_enough_and_well_formed():
    assert len(CASES) >= 60
    causes = load_catalogue().causes
    for path in CASES:
        case = load_case(path)
        assert case["source"].startswith("https://"), path.name
        assert case["resolution"].strip(), path.name
        assert case["text"].strip(), path.name
        assert case["top"] in causes, f"{path.name}: unknown cause {case['top']!r}"


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_top_cause_offline(path: Path):
    case = load_case(path)
    explanation = explain_text(clean(case["text"]))
    ranked = [(c.cause.id, round(c.score, 2)) for c in explanation.causes]
    assert explanation.status is Status.EXPLAINED, ranked
    assert explanation.identified[0].cause.id == case["top"], ranked
