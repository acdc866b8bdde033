"""Hostile option values and hostile evidence: a clean usage error (exit 2) or an ``error`` finding.

Option values rendered into other programs' syntax (buildx ``--output``) are validated strictly; output
paths that cannot be written are usage errors; text from snapshots, images and probes is never read as
rich markup; values of the wrong JSON type in ``docker info``, daemon.json and a worker's report become
findings naming the field, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import findings_by_check
from tests.faults.harness import TRACEBACK, ProbeLog, fault_env, leftovers, run_cli, write_program

IMAGE = "cuda12.4.1-runtime-ubuntu22.04-none-py3.10"


@pytest.mark.parametrize(
    "args",
    [
        ["image", "build", "--reproducible", "-t", "x,dest=/tmp/y.tar,push=true", IMAGE],
        ["image", "build", "--reproducible", "-t", "ok:tag\n#injected", IMAGE],
        ["image", "build", "-t", "UPPER/Case:[/bold]", IMAGE],
        ["image", "build", "--reproducible", "--oci-out", "/tmp/a.tar,push=true", IMAGE],
        ["image", "build", "cuda[/x]"],
        ["image", "build", "[bold]cuda12.4.1-runtime-ubuntu22.04-none-py3.10"],
    ],
    ids=["tag-comma", "tag-newline", "tag-markup", "oci-out-comma", "name-markup", "name-open-tag"],
)
def test_values_rendered_into_other_syntax_are_refused(args: list[str], tmp_path: Path) -> None:
    run = run_cli(*args, env=fault_env(tmp_path))
    run.assert_clean(2)
    assert "/tmp/y.tar" not in {p.name for p in Path("/tmp").iterdir()}


@pytest.mark.parametrize(
    "args",
    [
        ["doctor", "--only", "environ", "--junit", "/nonexistent-dir/report.xml"],
        ["doctor", "--only", "environ", "--junit", "/"],
        ["snapshot", "--only", "environ", "-o", "/nonexistent-dir/snap.json"],
        ["snapshot", "--only", "environ", "-o", "/proc/version"],
    ],
)
def test_unwritable_output_paths_are_usage_errors(args: list[str], tmp_path: Path) -> None:
    run_cli(*args, env=fault_env(tmp_path)).assert_clean(2)


def test_unwritable_github_step_summary_is_a_usage_error(tmp_path: Path) -> None:
    env = fault_env(tmp_path, GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY="/nonexistent-dir/summary.md")
    run = run_cli("doctor", "--only", "environ", env=env)
    run.assert_clean(2)
    assert "GITHUB_STEP_SUMMARY" in run.stderr


@pytest.mark.parametrize(
    "text",
    ['{"x": 1e400}', '{"x": -1e999}', '{"x": NaN}', '{"x": Infinity}', '{"x": "\\ud800"}', '{"\\udfff": 1}'],
)
def test_daemon_json_values_that_cannot_round_trip_are_refused(text: str, tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    path.write_text(text)
    run = run_cli("setup", "docker", "--config", str(path), "--apply", env=fault_env(tmp_path))
    run.assert_clean(2)
    assert path.read_text() == text and not list(tmp_path.glob("*.bak"))


def _snapshot(tmp_path: Path, bin_dir: Path, *only: str, root: Path | None = None) -> dict:
    out = tmp_path / "base.json"
    args = ["snapshot", "-o", str(out), "--only", ",".join(only)]
    if root is not None:
        args += ["--sysroot", str(root)]
    run_cli(*args, env=fault_env(bin_dir)).assert_clean(0)
    return json.loads(out.read_text())


def _replay(tmp_path: Path, doc: dict, *args: str) -> dict:
    path = tmp_path / "mutated.json"
    path.write_text(json.dumps(doc))
    run = run_cli("doctor", "--json", "--replay", str(path), *args, env=fault_env(tmp_path))
    run.assert_clean(0, 1)
    assert TRACEBACK not in run.stdout
    return json.loads(run.stdout)


@pytest.mark.parametrize(
    "info",
    [
        {"Runtimes": ["runc", "nvidia"], "ServerVersion": "26.1.5"},
        {"Runtimes": {"runc": {}}, "ServerVersion": 26},
        {"Runtimes": {"runc": {}}, "ServerVersion": "26.1.5", "CDISpecDirs": "/etc/cdi"},
        {"Runtimes": {"runc": {}}, "ServerVersion": "26.1.5", "CDISpecDirs": [5], "SecurityOptions": 7},
    ],
    ids=["runtimes-list", "version-number", "cdi-dirs-string", "cdi-dirs-numbers"],
)
def test_docker_info_of_the_wrong_types_is_an_error_finding(info: dict, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = ProbeLog(tmp_path / "pids")
    write_program(bin_dir, "docker", "echo 'Docker version 26.1.5, build a72d7cd'", log)
    doc = _snapshot(tmp_path, bin_dir, "container", root=tmp_path / "bin")
    for item in doc["evidence"]:
        if item["kind"] == "value" and item["name"] == "docker_daemon":
            item["data"] = {"reachable": True, "info": info, "docker_host": None}
            item["error"] = None
    daemon = findings_by_check(_replay(tmp_path, doc, "--only", "container"))["container.daemon"][0]
    assert daemon["status"] == "error", daemon
    assert "wrong type" in daemon["summary"], daemon


@pytest.mark.parametrize("dirs", ['"/etc/cdi-custom"', "5", '["/etc/cdi", 7]', '{"a": 1}'])
def test_non_list_cdi_spec_dirs_in_daemon_json_is_a_problem_not_letters(dirs: str, tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc/docker").mkdir(parents=True)
    (root / "etc/docker/daemon.json").write_text(
        '{"features": {"cdi": true}, "cdi-spec-dirs": ' + dirs + "}\n"
    )
    run = run_cli("doctor", "--json", "--only", "container", "--sysroot", str(root), env=fault_env(tmp_path))
    run.assert_clean(0, 1)
    found = findings_by_check(json.loads(run.stdout))
    assert "cdi-spec-dirs" in json.dumps(found["container.daemon_json"])
    listed = [f for f in json.loads(run.stdout)["findings"] if f["check"].startswith("container.cdi")]
    assert all("/e, /t" not in f["summary"] for f in listed)  # NOTE: never a string read letter by letter


WORKER = """#!/bin/sh
{prologue}
echo '{{"worker": "torch", "schema": 1, "import": {{"ok": true}},
 "build": {{"version": "2.6.0", "cuda": "12.4", "arch_list": "sm_80"}},
 "devices": {{"available": "yes", "device_count": "1", "devices": "GPU0"}},
 "matmul": {{"error": 5}}, "amp": [], "memory_fraction": {{"fraction": "half"}}}}' | tr -d '\\n'
echo
"""


def test_worker_report_of_the_wrong_types_is_an_error_finding_without_traceback(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = ProbeLog(tmp_path / "pids")
    python = bin_dir / "python-hostile"
    python.write_text(WORKER.format(prologue=log.prologue))
    python.chmod(0o755)
    run = run_cli("doctor", "--json", "--only", "torch", "--python", str(python), env=fault_env(bin_dir))
    run.assert_clean(1)
    assert "Traceback" not in run.stdout
    found = findings_by_check(json.loads(run.stdout))
    install = found["torch.install"][0]
    assert install["status"] == "error" and "wrong type" in install["summary"], install
    assert all(f[0]["status"] == "skip" for check, f in found.items() if check != "torch.install")
    assert leftovers(log.groups()) == []


def test_markup_and_escapes_in_replayed_evidence_are_printed_literally(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = ProbeLog(tmp_path / "pids")
    write_program(
        bin_dir, "nvidia-smi", "printf 'NVIDIA-SMI [/bold] [red]\\033]0;pwned\\007\\n'; exit 9", log
    )
    doc = _snapshot(tmp_path, bin_dir, "driver", root=tmp_path / "bin")
    doc["meta"]["hostname"] = "[/bold]host[/]"
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(doc))
    run = run_cli("doctor", "-v", "--replay", str(path), env=fault_env(tmp_path))
    run.assert_clean(0, 1)
    assert "[/bold] [red]" in run.stdout  # NOTE: shown as text, not applied (or refused) as markup
    assert "\x1b]0;pwned" not in run.stdout and "\\x1b]0;pwned" in run.stdout
