"""Multi-node report sets: the real `gpucheck doctor --replay --json` on edits of a hand-written snapshot."""

from __future__ import annotations

import copy
import json
import shutil
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
    """The recorded two-H100 snapshot as another node: renamed, older driver, a lost GPU or ECC errors."""
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
