"""Live confirmation: a corpus text explained on a reproduced host (the scenario machinery's fake
executables and --sysroot tree), where doctor's checks must confirm the cause the thread reached."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import FakeBin
from tests.explain.test_corpus import CASES, load_case
from tests.test_scenarios import SCENARIOS, materialise

LIVE = [p for p in CASES if "live" in load_case(p)]
SKIP = "torch,tensorflow,framework,container"
"""Framework probes and the Docker engine are exercised elsewhere; these hosts are reproduced below them."""


def test_enough_live_cases():
    assert len(LIVE) >= 8


@pytest.mark.parametrize("path", LIVE, ids=lambda p: p.stem)
def test_confirmed_cause_live(path: Path, fake_bin: FakeBin, sysroot, invoke, tmp_path: Path):
    case = load_case(path)
    expected = materialise(SCENARIOS / case["live"]["scenario"], fake_bin, sysroot.root)
    report = tmp_path / "error.txt"
    report.write_text(case["text"], encoding="utf-8")
    result = invoke(
        "explain", "--json", "--sysroot", str(sysroot.root), "--skip", SKIP, str(report), env=expected["_env"]
    )
    doc = result.json()
    assert doc["mode"] == "live"
    top = doc["causes"][0]
    assert (top["id"], top["verdict"]) == (case["live"]["confirmed"], "confirmed"), [
        (c["id"], c["verdict"], c["score"]) for c in doc["causes"]
    ]
    assert top["findings"] and any(f["status"] in ("fail", "warn") for f in top["findings"])
    assert result.exit_code == 0
