"""`gpucheck fleet report` on report sets made by the real doctor: disagreements, outliers, bad members."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from gpucheck.fleet.load import load_reports, parse_report
from gpucheck.fleet.merge import merge
from gpucheck.fleet.render import render_markdown
from tests.fleet.conftest import MALFORMED, doctor_report, node_snapshot

H100 = "2× NVIDIA H100 80GB HBM3"


def test_merge_puts_outliers_first_with_the_reason(fleet_dir: Path):
    nodes, rejected = load_reports([fleet_dir])
    fleet = merge(nodes, rejected)
    order = [n.node for n in fleet.nodes]
    # gpu-a04 differs in three ways (driver, CUDA, its failing driver expectation), gpu-a05 in three
    # (GPU count plus two failing checks), gpu-a06 in one; healthy nodes last, by name.
    assert order[3:] == ["gpu-a01", "gpu-a02", "gpu-a03"]
    assert set(order[:2]) == {"gpu-a04", "gpu-a05"} and order[2] == "gpu-a06"
    rows = {n.node: n for n in fleet.nodes}
    assert rows["gpu-a04"].deviations == (
        "driver 535.104.05, most: 550.54.14",
        "cuda 12.2, most: 12.4",
        "fails expect.driver (passes on 5 of 6 nodes)",
    )
    assert "gpus 1× NVIDIA H100 80GB HBM3, most: " + H100 in rows["gpu-a05"].deviations
    assert "fails expect.gpus (passes on 5 of 6 nodes)" in rows["gpu-a05"].deviations
    assert rows["gpu-a06"].deviations == ("fails gpu.health (passes on 5 of 6 nodes)",)
    assert rows["gpu-a01"].deviations == () and rows["gpu-a01"].status == "warn"
    assert fleet.failed


def test_inventory_lists_every_driver_cuda_and_gpu_model(fleet_dir: Path):
    fleet = merge(*load_reports([fleet_dir]))
    assert fleet.inventory["driver"] == {
        "550.54.14": ["gpu-a01", "gpu-a02", "gpu-a03", "gpu-a05", "gpu-a06"],
        "535.104.05": ["gpu-a04"],
    }
    assert fleet.inventory["cuda"] == {
        "12.4": ["gpu-a01", "gpu-a02", "gpu-a03", "gpu-a05", "gpu-a06"],
        "12.2": ["gpu-a04"],
    }
    assert list(fleet.inventory["gpus"]) == [H100, "1× NVIDIA H100 80GB HBM3"]
    assert fleet.inventory["toolkit"] == {"12.4": [f"gpu-a0{i}" for i in range(1, 7)]}
    assert fleet.majority["driver"] == "550.54.14"
    assert fleet.checks["gpu.health"]["fail"] == ["gpu-a06"]
    assert fleet.checks["expect.driver"] == {
        "pass": ["gpu-a01", "gpu-a02", "gpu-a03", "gpu-a05", "gpu-a06"],
        "fail": ["gpu-a04"],
    }


def test_a_check_failing_everywhere_is_not_an_outlier(tmp_path: Path):
    # A pool whose contract says 8 GPUs while every node has 2: a fleet-wide failure, nobody singled out.
    for host in ("n1", "n2", "n3"):
        report = doctor_report(node_snapshot(host), tmp_path, "--expect-gpus", "8")
        (tmp_path / f"{host}.json").write_text(json.dumps(report))
    fleet = merge(*load_reports(sorted(tmp_path.glob("n?.json"))))
    assert fleet.checks["expect.gpus"] == {"fail": ["n1", "n2", "n3"]}
    assert all(n.failing == ("expect.gpus",) and n.deviations == () for n in fleet.nodes)
    assert [n.node for n in fleet.nodes] == ["n1", "n2", "n3"] and fleet.failed


def test_a_tie_has_no_majority_and_no_outlier(fleet_dir: Path):
    for name in ("gpu-a01", "gpu-a02", "gpu-a03", "gpu-a05", "gpu-a06"):
        if name not in ("gpu-a01",):
            (fleet_dir / f"{name}.json").unlink()
    fleet = merge(*load_reports([fleet_dir]))  # gpu-a01 (550) and gpu-a04 (535): one each
    assert fleet.majority["driver"] is None
    assert not any(d.startswith("driver ") for n in fleet.nodes for d in n.deviations)
    assert fleet.inventory["driver"] == {"535.104.05": ["gpu-a04"], "550.54.14": ["gpu-a01"]}


def test_cli_console_report_exits_1_and_names_outliers(invoke, fleet_dir: Path):
    result = invoke("fleet", "report", str(fleet_dir))
    assert result.exit_code == 1
    out = result.stdout
    assert out.index("gpu-a04") < out.index("gpu-a01")
    assert "driver 535.104.05, most: 550.54.14" in out
    assert "driver: 550.54.14 (5), 535.104.05 (1)" in out
    assert "6 nodes: 3 ok, 3 failing, 3 outliers" in out


def test_cli_json_lists_malformed_members_with_reasons(invoke, with_malformed: Path):
    result = invoke("fleet", "report", "--json", str(with_malformed))
    assert result.exit_code == 1
    doc = result.json()
    assert doc["format"] == "gpucheck-fleet-report" and doc["schema_version"] == 1
    assert len(doc["nodes"]) == 6 and doc["nodes"][0]["node"] in ("gpu-a04", "gpu-a05")
    reasons = {Path(r["source"]).name: r["reason"] for r in doc["rejected"]}
    assert reasons["truncated.json"].startswith("not JSON: ")
    assert reasons["other-tool.json"] == 'not a gpucheck doctor report (no "format": "gpucheck-report")'
    assert reasons["finding-without-status.json"] == "finding 0 has no valid 'check' and 'status'"
    assert reasons["gpu-c01.json"] == (
        "written by gpucheck 9.0.0 with report schema 2; this one reads schema 1: "
        "upgrade: `pip install -U gpucheck`"
    )
    assert doc["summary"] == "6 nodes: 3 ok, 3 failing, 3 outliers; 4 report(s) unusable"


def test_reports_from_other_gpucheck_versions_with_the_same_schema_merge(fleet_dir: Path):
    older = json.loads((fleet_dir / "gpu-a02.json").read_text())
    older["gpucheck_version"] = "0.0.9"
    (fleet_dir / "gpu-a02.json").write_text(json.dumps(older))
    nodes, rejected = load_reports([fleet_dir])
    assert not rejected and len(nodes) == 6
    fleet = merge(nodes)
    assert fleet.inventory["gpucheck"]["0.0.9"] == ["gpu-a02"]
    assert "gpucheck 0.0.9, most: 0.1.0" in {n.node: n for n in fleet.nodes}["gpu-a02"].deviations


def test_markdown_report(invoke, with_malformed: Path):
    result = invoke("fleet", "report", "--markdown", str(with_malformed))
    assert result.exit_code == 1
    md = result.stdout
    assert md.startswith(
        "## gpucheck fleet report\n\n6 nodes: 3 ok, 3 failing, 3 outliers; 4 report(s) unusable"
    )
    assert "| Node | Status | Driver | CUDA | Toolkit | GPUs | Differs from the fleet / fails |" in md
    assert "| gpu-a04 | ❌ fail | 535.104.05 | 12.2 | 12.4 | 2× NVIDIA H100 80GB HBM3 |" in md
    assert "| driver | 535.104.05 | 1 | gpu-a04 |" in md
    assert "### Unusable reports" in md and "other-tool.json" in md


def test_markdown_escapes_pipes_in_values(fleet_dir: Path):
    doc = json.loads((fleet_dir / "gpu-a03.json").read_text())
    doc["meta"]["hostname"] = "rack|3"
    node = parse_report(json.dumps(doc), "x.json")
    assert "rack\\|3" in render_markdown(merge([node]))


def test_duplicate_hostnames_are_told_apart_by_file(fleet_dir: Path):
    (fleet_dir / "copy.json").write_text((fleet_dir / "gpu-a01.json").read_text())
    names = sorted(n.node for n in load_reports([fleet_dir])[0])
    assert "gpu-a01 (copy.json)" in names and "gpu-a01 (gpu-a01.json)" in names


def test_node_name_from_file(invoke, fleet_dir: Path):
    (fleet_dir / "gpu-a01.json").rename(fleet_dir / "node-17.json")
    doc = invoke("fleet", "report", "--json", "--node-name", "file", str(fleet_dir)).json()
    assert "node-17" in [n["node"] for n in doc["nodes"]]


def test_healthy_fleet_exits_0(invoke, fleet_dir: Path):
    for bad in ("gpu-a04", "gpu-a05", "gpu-a06"):
        (fleet_dir / f"{bad}.json").unlink()
    result = invoke("fleet", "report", str(fleet_dir / "gpu-a01.json"), str(fleet_dir / "gpu-a02.json"))
    assert result.exit_code == 0, result.stdout
    assert "2 nodes: 2 ok, 0 failing, 0 outliers" in result.stdout


def test_usage_errors(invoke, tmp_path: Path):
    missing = invoke("fleet", "report", str(tmp_path / "nope"))
    assert missing.exit_code == 2 and "no such file or directory" in missing.stderr
    empty = invoke("fleet", "report", str(tmp_path))
    assert empty.exit_code == 2 and "no *.json report found" in empty.stderr
    both = invoke("fleet", "report", "--json", "--markdown", str(MALFORMED))
    assert both.exit_code == 2


def test_only_malformed_members_still_report_not_crash(invoke):
    result = invoke("fleet", "report", "--json", str(MALFORMED))
    assert result.exit_code == 1
    doc = result.json()
    assert doc["nodes"] == [] and len(doc["rejected"]) == 3


def test_a_failure_on_a_nodes_second_gpu_is_its_worst_finding(fleet_dir: Path, tmp_path: Path):
    # GPU 0 has a pending row remap (warn), GPU 1 uncorrected ECC errors (fail): doctor reports gpu.health
    # twice, the warning first. The node fails gpu.health, whatever the order of its findings.
    snapshot = node_snapshot("gpu-b01")
    nvml = next(e for e in snapshot["evidence"] if e.get("name") == "nvml")["data"]
    nvml["gpus"][0]["remapped_rows.pending"] = "Yes"
    nvml["gpus"][1]["ecc.errors.uncorrected.volatile.total"] = 3
    report = doctor_report(snapshot, tmp_path)
    health = [f["status"] for f in report["findings"] if f["check"] == "gpu.health"]
    assert health == ["warn", "fail"]
    (fleet_dir / "gpu-b01.json").write_text(json.dumps(report))
    fleet = merge(*load_reports([fleet_dir]))
    row = {n.node: n for n in fleet.nodes}["gpu-b01"]
    assert "gpu.health" in row.failing and "gpu.health" not in row.warning
    assert "fails gpu.health (passes on 5 of 7 nodes)" in row.deviations
    assert fleet.checks["gpu.health"]["fail"] == ["gpu-a06", "gpu-b01"]


def test_markup_in_hostnames_and_check_ids_is_printed_as_text(invoke, fleet_dir: Path):
    doc = json.loads((fleet_dir / "gpu-a05.json").read_text())
    doc["meta"]["hostname"] = "[/bold]rack[red]7"
    doc["findings"][0]["check"] = "driver.[/]x"
    doc["findings"][0]["status"] = "fail"
    (fleet_dir / "gpu-a05.json").write_text(json.dumps(doc))
    (fleet_dir / "esc.json").write_text(json.dumps({**doc, "meta": {"hostname": "evil\x1b[2Jnode"}}))
    result = invoke("fleet", "report", str(fleet_dir))
    assert result.exit_code == 1, result.stderr
    assert "[/bold]rack[red]7" in result.stdout and "driver.[/]x" in result.stdout
    assert "\x1b" not in result.stdout and "evil\\x1b[2Jnode" in result.stdout


def test_large_fleets_list_outliers_first_and_count_the_rest(fleet_dir: Path):
    base = json.loads((fleet_dir / "gpu-a01.json").read_text())
    for i in range(120):
        doc = copy.deepcopy(base)
        doc["meta"]["hostname"] = f"gpu-z{i:03d}"
        (fleet_dir / f"gpu-z{i:03d}.json").write_text(json.dumps(doc))
    fleet = merge(*load_reports([fleet_dir]))
    md = render_markdown(fleet, limit=10)
    node_rows = [line for line in md.split("### Inventory")[0].splitlines() if line.startswith("| gpu-")]
    assert len(node_rows) == 10 and node_rows[0].startswith(("| gpu-a04 ", "| gpu-a05 "))
    assert "116 more nodes not listed (0 of them outliers or failing)" not in md
    assert "116 more nodes not listed (all of them in line with the fleet)" in md
    assert "| driver | 550.54.14 | 125 | gpu-a01, gpu-a02, gpu-a03, gpu-a05, gpu-a06, … and 120 more |" in md
    assert len(render_markdown(fleet, limit=0).splitlines()) > 126


def test_members_that_are_not_regular_files_or_too_large_are_rejected(fleet_dir: Path, monkeypatch):
    import os

    from gpucheck.fleet import load

    os.mkfifo(fleet_dir / "pipe.json")
    monkeypatch.setattr(load, "MAX_REPORT_BYTES", 100_000)
    (fleet_dir / "huge.json").write_text(" " * 200_000)
    named = load.iter_reports([fleet_dir / "pipe.json", fleet_dir / "huge.json"])
    results = {Path(r.source).name: r for r in named}
    assert {Path(r.source).name for r in load.iter_reports([fleet_dir]) if isinstance(r, load.Rejected)} == {
        "pipe.json",
        "huge.json",
    }
    assert results["pipe.json"].reason == "not a regular file"
    assert results["huge.json"].reason.startswith("200000 bytes: larger than any doctor report")
