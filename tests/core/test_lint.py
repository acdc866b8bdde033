"""The style guide is enforced, not hoped for: ruff (pycodestyle, pyflakes, bugbear, docstrings) passes."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed (it is in the test extra)")
def test_ruff_passes_on_the_whole_project():
    proc = subprocess.run(
        ["ruff", "check", "gpucheck", "tests", "benchmarks", "scripts"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
