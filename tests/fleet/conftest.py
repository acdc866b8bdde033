"""Report sets made by the real `gpucheck doctor --replay --json` on edited snapshots; a real Slurm.

The base snapshot, ``system/snapshots/nvml_two_h100.json``, is hand-written (NVML values of two H100s in the
shape the nvml collector records, UUIDs made up), not a recording; the reports are real doctor output on it.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

FIXTURES = Path(__file__).parent.parent / "fixtures"
SNAPSHOT = FIXTURES / "system" / "snapshots" / "nvml_two_h100.json"
MALFORMED = FIXTURES / "fleet" / "malformed"
EXPECT = ["--expect-gpus", "2", "--expect-driver", ">=550,<560"]
"""The runner pool's contract every node is checked against."""
PROC_535 = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023\n"


def _item(doc: dict, kind: str, key: str) -> dict:
    field = "path" if kind == "file" else "name"
    return next(e for e in doc["evidence"] if e["kind"] == kind and e.get(field) == key)


def node_snapshot(hostname: str, *, driver_535: bool = False, gpus: int = 2, ecc: int = 0) -> dict[str, Any]:
    """The written two-H100 snapshot as another node: renamed, older driver, a lost GPU or ECC errors."""
    doc = copy.deepcopy(json.loads(SNAPSHOT.read_text()))
    doc["meta"]["hostname"] = hostname
    nvml = _item(doc, "value", "nvml")["data"]
    nvml["gpus"] = nvml["gpus"][:gpus]
    nvml["gpus"][0]["ecc.errors.uncorrected.volatile.total"] = ecc
    if driver_535:
        nvml.update(driver_version="535.104.05", cuda_driver_version=12020, nvml_version="12.535.104.05")
        _item(doc, "file", "/proc/driver/nvidia/version")["content"] = PROC_535
    return doc


def doctor_report(snapshot: dict[str, Any], workdir: Path, *args: str) -> dict[str, Any]:
    """The JSON report of the real doctor replaying ``snapshot``."""
    path = workdir / f"{snapshot['meta']['hostname']}.snapshot.json"
    path.write_text(json.dumps(snapshot))
    result = CliRunner().invoke(
        __import__("gpucheck.cli", fromlist=["app"]).app,
        ["doctor", "--replay", str(path), "--json", "--ci", "none", *args],
        catch_exceptions=False,
    )
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


NODES = {
    "gpu-a01": {},
    "gpu-a02": {},
    "gpu-a03": {},
    "gpu-a04": {"driver_535": True},
    "gpu-a05": {"gpus": 1},
    "gpu-a06": {"ecc": 3},
}
"""Six nodes of one pool: three healthy, one on the 535 branch, one that lost a GPU, one with ECC errors."""


@pytest.fixture(scope="session")
def fleet_reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with one doctor report per node (``<hostname>.json``)."""
    work = tmp_path_factory.mktemp("snapshots")
    out = tmp_path_factory.mktemp("fleet") / "reports"
    out.mkdir()
    for host, edits in NODES.items():
        report = doctor_report(node_snapshot(host, **edits), work, *EXPECT)
        (out / f"{host}.json").write_text(json.dumps(report, indent=2))
    return out


@pytest.fixture
def fleet_dir(fleet_reports: Path, tmp_path: Path) -> Path:
    """A private copy of the report set, which a test may add members to."""
    target = tmp_path / "reports"
    shutil.copytree(fleet_reports, target)
    return target


@pytest.fixture
def with_malformed(fleet_dir: Path) -> Path:
    """The report set plus the hand-written malformed members and a report from a future schema."""
    for member in MALFORMED.glob("*.json"):
        shutil.copy(member, fleet_dir / member.name)
    future = json.loads((fleet_dir / "gpu-a01.json").read_text())
    future.update(schema_version=2, gpucheck_version="9.0.0")
    future["meta"]["hostname"] = "gpu-c01"
    (fleet_dir / "gpu-c01.json").write_text(json.dumps(future))
    return fleet_dir


# --- a real single-host Slurm cluster (scripts/slurm-cluster.sh) for @pytest.mark.slurm tests ---
REPO = Path(__file__).resolve().parents[2]
CLUSTER_SCRIPT = REPO / "scripts" / "slurm-cluster.sh"
REQUIRE_SLURM = "GPUCHECK_REQUIRE_SLURM"
"""Set to 1 in CI (.ci/run): a cluster that cannot start fails the slurm tests instead of skipping them."""


@dataclass(frozen=True)
class SlurmCluster:
    """A running cluster: its slurm.conf (export SLURM_CONF) and node names."""

    conf: Path
    nodes: tuple[str, ...]

    def env(self, **extra: str) -> dict[str, str]:
        """The environment for sbatch/srun/sinfo against this cluster."""
        return {**os.environ, "SLURM_CONF": str(self.conf), **extra}


def _cannot(reason: str) -> None:
    if os.environ.get(REQUIRE_SLURM) == "1":
        pytest.fail(f"{REQUIRE_SLURM}=1 but {reason}")
    pytest.skip(reason)


def _free_port_base(count: int) -> int:
    """A port P with P..P+count free on localhost (slurmctld on P, one slurmd per node after it)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count > 65535:
            continue
        try:
            socks = []
            for port in range(base, base + count + 1):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port range for the Slurm daemons")


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    """Start Debian's slurmctld + two slurmd on this host (2 stand-in GRES GPUs each), stop it at the end."""
    if os.geteuid() != 0:
        _cannot("the single-host Slurm cluster runs its daemons as root; this test session is not root")
    missing = [exe for exe in ("slurmctld", "slurmd", "sbatch", "munged") if not _which_sbin(exe)]
    if missing:
        _cannot(f"Slurm is not installed ({', '.join(missing)} missing): `scripts/slurm-cluster.sh install`")
    directory = tmp_path_factory.mktemp("slurm")
    args = ["--dir", str(directory), "--nodes", "2", "--gres-gpus", "2", "--port", str(_free_port_base(2))]
    start = subprocess.run(
        ["bash", str(CLUSTER_SCRIPT), "start", *args], capture_output=True, text=True, timeout=180
    )
    if start.returncode != 0:
        subprocess.run(["bash", str(CLUSTER_SCRIPT), "stop", *args], capture_output=True, timeout=60)
        _cannot(f"scripts/slurm-cluster.sh start exited {start.returncode}: {start.stderr[-1500:]}")
    try:
        yield SlurmCluster(conf=directory / "slurm.conf", nodes=("node1", "node2"))
    finally:
        subprocess.run(["bash", str(CLUSTER_SCRIPT), "stop", *args], capture_output=True, timeout=60)


def _which_sbin(exe: str) -> str | None:
    return shutil.which(exe) or shutil.which(exe, path="/usr/sbin:/sbin")
