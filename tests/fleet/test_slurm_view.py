"""Doctor's Slurm view: recorded scontrol/gres.conf outputs through the real `doctor --replay`; parsers."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from gpucheck.diagnose.parse.errors import ParseError
from gpucheck.diagnose.parse.slurm import (
    expand_hostlist,
    gpu_count,
    parse_gres,
    parse_gres_conf,
    parse_scontrol_node,
    parse_slurm_conf,
    parse_tres,
)
from tests.fleet.conftest import SNAPSHOT

SLURM = Path(__file__).parent.parent / "fixtures" / "slurm"
RTX3090 = (SLURM / "scontrol_show_node_rtx3090_drained.txt").read_text()
A40 = (SLURM / "scontrol_show_node_esc8000a_a40.txt").read_text()
STANDIN = (SLURM / "scontrol_show_node_bookworm_22.05_standin.txt").read_text()
DGX_GRES = (SLURM / "gres_conf_dgx_a100_links.conf").read_text()
STANDIN_GRES = (SLURM / "gres_conf_bookworm_standin.conf").read_text()
STANDIN_CONF = (SLURM / "slurm_conf_bookworm_standin.conf").read_text()
CONF, GRES = "/etc/slurm/slurm.conf", "/etc/slurm/gres.conf"


def test_scontrol_parser_reads_the_recorded_nodes():
    node = parse_scontrol_node(RTX3090)
    assert node["NodeName"] == "yigou-dev-102-68" and node["Gres"] == "gpu:nvidia-rtx-3090:1"
    assert node["State"] == "IDLE+DRAIN"
    reason = "gres/gpu count reported lower than configured (0 < 1) [slurm@2024-12-19T11:03:34]"
    assert node["Reason"] == reason
    assert node["OS"] == "Linux 5.10.0-153.12.0.92.oe2203sp2.x86_64 #1 SMP Wed Jun 28 23:04:48 CST 2023"
    assert parse_tres(node["CfgTRES"])["gres/gpu"] == "1" and node["AllocTRES"] == ""
    a40 = parse_scontrol_node(A40)
    assert parse_gres(a40["Gres"])[0].type == "a40" and gpu_count(parse_gres(a40["Gres"])) == 1
    assert a40["Comment"] == '{"namespace":"slurm","podName":"slurm-compute-esc8000a-1"}'
    assert gpu_count(parse_gres(parse_scontrol_node(STANDIN)["Gres"])) == 2


def test_gres_strings():
    entries = parse_gres("gpu:a100:4(S:0-1),gpu:v100:2,shard:8")
    expected = [("gpu", "a100", 4), ("gpu", "v100", 2), ("shard", None, 8)]
    assert [(e.name, e.type, e.count) for e in entries] == expected
    assert gpu_count(entries) == 6 and parse_gres("(null)") == [] and gpu_count(parse_gres("gpu")) == 1
    with pytest.raises(ParseError):
        parse_gres(":4")


def test_gres_conf_and_slurm_conf_parsers():
    dgx = parse_gres_conf(DGX_GRES, "anynode")
    assert dgx.count == 8 and dgx.files == tuple(f"/dev/nvidia{i}" for i in range(8)) and dgx.lines == 8
    standin = parse_gres_conf(STANDIN_GRES, "node1")
    assert standin.count == 2 and standin.files[0].endswith("/dev/node1/nvidia0")
    assert parse_gres_conf(STANDIN_GRES, "node3").lines == 0
    conf = parse_slurm_conf(STANDIN_CONF, "node2")
    assert conf.listed and gpu_count(list(conf.gres)) == 2 and conf.gres_types == ("gpu",)
    assert not parse_slurm_conf(STANDIN_CONF, "node9").listed
    assert parse_gres_conf("AutoDetect=nvml\n", "n1").autodetect == "nvml"


def test_hostlists():
    assert expand_hostlist("node[01-03,7],gpu1") == ["node01", "node02", "node03", "node7", "gpu1"]
    assert expand_hostlist("/dev/nvidia[0-1]") == ["/dev/nvidia0", "/dev/nvidia1"]
    for bad in ("n[1-999999]", "n[3-1]", "n[1-2", "n[a]"):
        with pytest.raises(ParseError):
            expand_hostlist(bad)


def slurm_snapshot(
    *,
    node: str,
    scontrol: str | None,
    gres_conf: str | None = None,
    slurm_conf: str | None = None,
    gpus: int = 2,
    devices: tuple[str, ...] = ("/dev/nvidia0", "/dev/nvidia1"),
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The (hand-written) two-H100 snapshot plus the slurm collector's evidence, as on a Slurm node."""
    doc = copy.deepcopy(json.loads(SNAPSHOT.read_text()))
    nvml = next(e for e in doc["evidence"] if e.get("name") == "nvml")["data"]
    nvml["gpus"] = nvml["gpus"][:gpus]
    doc["collectors"]["slurm"] = {"ok": True, "duration_s": 0.01, "error": None, "timed_out": False}
    doc["evidence"] += [
        {
            "kind": "value",
            "name": "slurm_node",
            "error": None,
            "data": {"node": node, "conf": CONF, "gres_conf": GRES, "env": env or {}},
        },
        {
            "kind": "file",
            "path": CONF,
            "exists": slurm_conf is not None,
            "error": None,
            "truncated": False,
            "content": slurm_conf,
        },
        {
            "kind": "file",
            "path": GRES,
            "exists": gres_conf is not None,
            "error": None,
            "truncated": False,
            "content": gres_conf,
        },
        {
            "kind": "dir",
            "path": "/dev/nvidia[0-9]*",
            "entries": list(devices),
            "exists": bool(devices),
            "error": None,
        },
    ]
    if scontrol is not None:
        doc["evidence"].append(
            {
                "kind": "command",
                "argv": ["scontrol", "show", "node", node],
                "returncode": 0,
                "stdout": scontrol,
                "stderr": "",
                "duration_s": 0.05,
                "not_found": False,
                "timed_out": False,
                "error": None,
                "resolved": "/usr/bin/scontrol",
            }
        )
    return doc


def findings(invoke, tmp_path: Path, doc: dict[str, Any]) -> dict[str, dict]:
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps(doc))
    result = invoke("doctor", "--replay", str(path), "--json", "--ci", "none", "--only", "slurm")
    assert result.exit_code in (0, 1), result.stderr
    return {f["check"]: f for f in result.json()["findings"]}


def test_drained_node_whose_driver_sees_no_gpu(invoke, tmp_path: Path):
    doc = slurm_snapshot(node="yigou-dev-102-68", scontrol=RTX3090, gpus=0, devices=())
    gres = findings(invoke, tmp_path, doc)["slurm.gres"]
    assert gres["status"] == "fail"
    summary = gres["summary"]
    assert "Slurm schedules 1 GPU(s) on yigou-dev-102-68 (scontrol: Gres=gpu:nvidia-rtx-3090:1)" in summary
    assert "but the driver sees 0" in gres["summary"]
    assert "slurmctld drained it: Reason=gres/gpu count reported lower than configured (0 < 1)" in summary
    assert "remove `Gres=gpu:…` from its NodeName line in /etc/slurm/slurm.conf" in gres["remediation"]
    assert "scontrol update NodeName=yigou-dev-102-68 State=RESUME" in gres["remediation"]


def test_gpus_slurm_never_schedules(invoke, tmp_path: Path):
    doc = slurm_snapshot(node="esc8000a-1", scontrol=A40, gres_conf="AutoDetect=nvml\n")
    gres = findings(invoke, tmp_path, doc)["slurm.gres"]
    assert gres["status"] == "warn"
    expected = "esc8000a-1 has 2 GPU(s) but Slurm schedules 1: 1 GPU(s) are never given to a job"
    assert gres["summary"] == expected
    fix = gres["remediation"]
    assert "Set `Gres=gpu:2` on the NodeName line of esc8000a-1 in /etc/slurm/slurm.conf" in fix


def test_slurm_type_that_does_not_name_the_gpu(invoke, tmp_path: Path):
    doc = slurm_snapshot(node="yigou-dev-102-68", scontrol=RTX3090, gpus=1, gres_conf="AutoDetect=nvml\n")
    gres = findings(invoke, tmp_path, doc)["slurm.gres"]
    assert gres["status"] == "warn"
    assert "type nvidia-rtx-3090, but they are NVIDIA H100 80GB HBM3" in gres["summary"]
    assert "`nvidia_h100_80gb_hbm3`" in gres["remediation"]


def test_slurm_conf_with_more_gpus_than_gres_conf_gives_slurmd(invoke, tmp_path: Path):
    # The recorded stand-in node (gpu:2) on the two-H100 host, with a gres.conf that has no line for node1.
    other_node = "NodeName=node9 Name=gpu File=/dev/nvidia0\n"
    doc = slurm_snapshot(node="node1", scontrol=STANDIN, gres_conf=other_node)
    gres = findings(invoke, tmp_path, doc)["slurm.gres"]
    assert gres["status"] == "fail"
    assert "gives node1 2 GPU(s) but slurmd reports 0" in gres["summary"]
    assert "/etc/slurm/gres.conf has no Name=gpu line for this node" in gres["summary"]
    assert "File=/dev/nvidia[0-1]" in gres["remediation"]


def test_gres_conf_naming_devices_the_host_lacks(invoke, tmp_path: Path):
    doc = slurm_snapshot(node="node1", scontrol=STANDIN, gres_conf=DGX_GRES)
    gres = findings(invoke, tmp_path, doc)["slurm.gres"]
    assert gres["status"] == "fail"
    assert gres["summary"].startswith("/etc/slurm/gres.conf names /dev/nvidia2, /dev/nvidia3")
    assert "it has /dev/nvidia0, /dev/nvidia1" in gres["summary"]


def test_agreeing_views_pass_and_a_non_slurm_host_skips(invoke, tmp_path: Path):
    doc = slurm_snapshot(node="node1", scontrol=STANDIN, gres_conf=STANDIN_GRES, slurm_conf=STANDIN_CONF)
    gres = findings(invoke, tmp_path, doc)["slurm.gres"]
    assert gres["status"] == "pass" and gres["data"]["slurm_gpus"] == gres["data"]["driver_gpus"] == 2
    plain = slurm_snapshot(node="ws1", scontrol=None)
    result = findings(invoke, tmp_path, plain)
    assert result["slurm.gres"]["status"] == "skip" and "not a Slurm node" in result["slurm.gres"]["summary"]
    assert result["slurm.job_gpus"]["status"] == "skip"


@pytest.mark.parametrize(
    ("env", "gpus", "status", "text"),
    [
        ({"SLURM_STEP_GPUS": "0", "CUDA_VISIBLE_DEVICES": "0"}, 2, "pass", "names 1 of the 2"),
        ({"SLURM_STEP_GPUS": "3", "CUDA_VISIBLE_DEVICES": "3"}, 2, "fail", "CUDA ignores 3"),
        ({"SLURM_JOB_GPUS": "0,1"}, 2, "warn", "did not set CUDA_VISIBLE_DEVICES"),
        ({"SLURM_STEP_GPUS": "0", "CUDA_VISIBLE_DEVICES": "0"}, 0, "fail", "the driver sees no GPU here"),
        ({"SLURM_STEP_GPUS": "0,1", "CUDA_VISIBLE_DEVICES": "1"}, 2, "warn", "the job changed it"),
        ({}, 2, "pass", "was given no GPU"),
    ],
)
def test_inside_a_job(invoke, tmp_path: Path, env: dict, gpus: int, status: str, text: str):
    doc = slurm_snapshot(
        node="node1", scontrol=STANDIN, gres_conf=STANDIN_GRES, gpus=gpus, env={"SLURM_JOB_ID": "17", **env}
    )
    job = findings(invoke, tmp_path, doc)["slurm.job_gpus"]
    assert job["status"] == status and text in job["summary"], job
