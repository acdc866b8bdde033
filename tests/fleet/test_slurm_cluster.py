"""The Slurm recipe on a real Slurm: `fleet manifest --slurm` submitted with sbatch to the single-host cluster
that scripts/slurm-cluster.sh starts (Debian's slurmctld and two slurmd, munge), then `fleet report`.

The cluster declares two stand-in GRES GPUs per node, so the default `--gres=gpu:1` request schedules on this
GPU-less machine and each doctor sees Slurm's view (``Gres=gpu:2``, ``CUDA_VISIBLE_DEVICES`` set by slurmd)
next to a driver that sees no GPU: the no-GPU case of the Slurm checks, end to end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fleet.conftest import SlurmCluster

pytestmark = pytest.mark.slurm


def test_sbatch_runs_the_rendered_recipe_and_fleet_report_merges_it(
    invoke, tmp_path: Path, slurm_cluster: SlurmCluster
):
    script, shared = tmp_path / "fleet.sbatch", tmp_path / "shared"
    rendered = invoke(
        "fleet",
        "manifest",
        "--slurm",
        "--nodes",
        "2",
        "--reports-dir",
        str(shared),
        "--doctor-args",
        "--skip torch,tensorflow,framework --timeout 60",
        "--output",
        str(script),
    )
    assert rendered.exit_code == 0, rendered.stderr
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = slurm_cluster.env(PATH=path)
    run = subprocess.run(
        ["sbatch", "--wait", "--parsable", str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    job = run.stdout.strip().split(";")[0]
    assert job.isdigit(), run.stdout + run.stderr
    log_file = tmp_path / f"gpucheck-doctor-{job}.out"
    log = log_file.read_text() if log_file.exists() else "(no job output)"
    out_dir = shared / job
    assert sorted(p.name for p in out_dir.glob("*.json")) == ["node1.json", "node2.json"], log
    # The job's own fleet report exits 1 (no node has the GPUs Slurm gives it), and so does sbatch --wait.
    assert run.returncode == 1, log
    assert "2 nodes: 0 ok, 2 failing" in log
    assert (out_dir / "fleet.md").read_text().startswith("## gpucheck fleet report")

    merged = invoke("fleet", "report", "--json", "--node-name", "file", str(out_dir))
    assert merged.exit_code == 1
    doc = merged.json()
    assert sorted(n["node"] for n in doc["nodes"]) == ["node1", "node2"] and doc["rejected"] == []
    assert doc["checks"]["slurm.gres"] == {"fail": ["node1", "node2"]}
    for node in ("node1", "node2"):
        report = json.loads((out_dir / f"{node}.json").read_text())
        found = {f["check"]: f for f in report["findings"]}
        gres, job_gpus = found["slurm.gres"], found["slurm.job_gpus"]
        assert gres["summary"].startswith(f"Slurm schedules 2 GPU(s) on {node} (scontrol: Gres=gpu:2)")
        assert gres["status"] == "fail" and "no NVIDIA driver is loaded here" in gres["summary"]
        assert job_gpus["status"] == "fail"
        assert job_gpus["data"]["cuda_visible_devices"] == "0" and job_gpus["data"]["granted"] == ["0"]
