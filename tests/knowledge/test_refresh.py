"""scripts/refresh-knowledge.py on recorded PyPI responses: the rows it writes, and what it asks to check."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

import pytest

from gpucheck.knowledge import load

ROOT = Path(__file__).resolve().parents[2]
PYPI = ROOT / "tests" / "fixtures" / "knowledge" / "pypi"
TODAY = dt.date(2026, 12, 1)


@pytest.fixture(scope="module")
def refresh():
    spec = importlib.util.spec_from_file_location(
        "refresh_knowledge", ROOT / "scripts" / "refresh-knowledge.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_torch_rows_carry_the_default_wheels_cuda(refresh):
    rows = refresh.release_rows(refresh.Source(PYPI), "torch", TODAY)
    # 2.14.0rc1 is a pre-release: not a row. torch 2.13.0's wheel pins cuda-toolkit==13.0.3; 2.15.0 (the
    # latest) has no saved .metadata, so its CUDA comes from info.requires_dist: cuda-toolkit==13.2.2
    assert [(r["version"], r.get("default_cuda"), r["uploaded"]) for r in rows] == [
        ("2.13.0", "13.0", dt.date(2026, 7, 8)),
        ("2.15.0", "13.2", dt.date(2026, 10, 28)),
    ]
    assert all(r["written_by"] == "scripts/refresh-knowledge.py" for r in rows)
    assert rows[0]["source"] == "https://pypi.org/project/torch/2.13.0/"


def test_written_block_follows_the_table_conventions_and_replaces_itself(refresh):
    rows = refresh.release_rows(refresh.Source(PYPI), "tensorflow", TODAY)
    assert [r["version"] for r in rows] == ["2.21.0"]  # 2.22.0rc0 is a release candidate
    original = (ROOT / "gpucheck" / "knowledge" / "tf_builds.toml").read_text()
    once = refresh.replace_block(original, refresh.render(rows))
    twice = refresh.replace_block(once, refresh.render(rows))
    assert once == twice and once.count(refresh.BEGIN) == 1
    table = load.parse_table("tf_builds", once)
    assert [r["version"] for r in table.rows["release"]] == ["2.21.0"]
    assert table.rows["release"][0]["checked"] == TODAY


def test_cuda_pin_forms(refresh):
    assert refresh.default_cuda(
        "Requires-Dist: nvidia-cuda-runtime-cu12==12.4.127; platform_system == 'Linux'"
    ) == ("12.4")
    assert refresh.default_cuda("Requires-Dist: cuda-toolkit[cudart]==13.2.2") == "13.2"
    assert (
        refresh.default_cuda("Requires-Dist: filelock\nRequires-Dist: nvidia-cudnn-cu13==9.26.0.51") is None
    )


def test_dry_run_names_uncovered_releases_and_the_urls_to_check(refresh, capsys):
    assert refresh.main(["--dry-run", "--pypi-json", str(PYPI), "--today", "2026-12-01"]) == 0
    out = capsys.readouterr().out
    assert "torch 2.15 is on PyPI but not in the hand-kept rows of torch_wheels.toml" in out
    assert "https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html" in out
    assert "https://www.tensorflow.org/install/source#gpu" in out
    assert "https://pypi.org/project/torch/2.13.0/" not in out.split("Re-check by hand")[1]
