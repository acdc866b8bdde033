"""``setup docker --apply`` under concurrency and ``kill -9``: no edit lost, never a partial file.

Real processes on one real daemon.json: N runs at once with different edits must each end with their edit
in the file or a clean refusal; a run killed at a random moment must leave the file as it was or as that
run would have written it, and no temporary file once the next run has taken the lock.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ORIGINAL = '{\n  "log-driver": "json-file",\n  "registry-mirrors": ["https://mirror.example"]\n}\n'
TRIALS = 3
PARALLEL = 6
KILLS = 25


def _apply(path: Path, *extra: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "gpucheck", "setup", "docker", "--config", str(path), "--apply", *extra]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _edits(n: int) -> list[tuple[str, ...]]:
    """Distinct edits: one runtime each, the first also sets the default, the second enables CDI."""
    edits = [("--runtime-name", f"rt{i}", "--runtime-path", f"/opt/rt{i}/bin/runtime") for i in range(n)]
    edits[0] += ("--set-default",)
    edits[1] += ("--cdi",)
    return edits


def _has(data: dict, edit: tuple[str, ...]) -> bool:
    name = edit[1]
    ok = data.get("runtimes", {}).get(name, {}).get("path") == edit[3]
    if "--set-default" in edit:
        ok = ok and data.get("default-runtime") is not None  # NOTE: a later --set-default may win
    if "--cdi" in edit:
        ok = ok and data.get("features", {}).get("cdi") is True
    return ok


def _temp_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".gpucheck-tmp"))


@pytest.mark.parametrize("trial", range(TRIALS))
def test_parallel_applies_keep_every_edit_or_refuse_cleanly(trial: int, tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    path.write_text(ORIGINAL)
    edits = _edits(PARALLEL)
    procs = [_apply(path, *edit) for edit in edits]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    results = [(edit, proc.returncode, out) for edit, proc, out in zip(edits, procs, outputs, strict=True)]
    data = json.loads(path.read_text())  # NOTE: the file always parses
    assert data["log-driver"] == "json-file" and data["registry-mirrors"] == ["https://mirror.example"]
    for edit, code, (_out, err) in results:
        assert "Traceback" not in err
        if code == 0:
            assert _has(data, edit), f"{edit} reported success but is missing from {data}"
        else:
            assert code == 1 and "refusing" in err, f"{edit}: exit {code}: {err}"
    # NOTE: runs read, plan and write under one lock, so here none even needs to refuse
    assert all(code == 0 for _e, code, _o in results), [(e[1], c, o[1]) for e, c, o in results if c]
    assert _temp_files(tmp_path) == []


def test_kill_9_at_any_moment_leaves_the_old_or_the_new_file(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    path.write_text(ORIGINAL)
    rng = random.Random(13)
    seen_temp_after_kill = 0
    for i in range(KILLS):
        before = path.read_text()
        proc = _apply(path, "--runtime-name", f"k{i}")
        time.sleep(rng.uniform(0.0, 1.5))  # NOTE: start-up, import, lock, read, plan, backup, write, rename
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        after = path.read_text()
        if after != before:
            old, new = json.loads(before), json.loads(after)
            assert new.get("runtimes", {}).get(f"k{i}") == {"path": "nvidia-container-runtime", "args": []}
            assert all(new[key] == value for key, value in old.items() if key != "runtimes")
            assert all(new["runtimes"].get(name) == spec for name, spec in old.get("runtimes", {}).items())
        seen_temp_after_kill += bool(_temp_files(tmp_path))
        for backup in tmp_path.glob("*.bak"):
            json.loads(backup.read_text())  # NOTE: a backup is complete or absent, never partial
    final = subprocess.run(
        [sys.executable, "-m", "gpucheck", "setup", "docker", "--config", str(path), "--apply"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert final.returncode == 0, final.stderr
    assert _temp_files(tmp_path) == []
    # NOTE: a temporary file can only survive a kill in the microseconds between its link and the rename
    assert seen_temp_after_kill <= 1
