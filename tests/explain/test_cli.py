"""``gpucheck explain`` through the real CLI: formats, schema, exit codes 0/1/2, input handling."""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import run_gpucheck
from tests.test_scenarios import SCENARIOS, materialise

SCHEMA = json.loads(resources.files("gpucheck.schemas").joinpath("explain.schema.json").read_text())
DOCKER_ERROR = (
    'docker: Error response from daemon: could not select device driver "" with capabilities: [[gpu]].\n'
)
HEALTHY_SMI = """\
+-----------------------------------------------------------------------------+
| NVIDIA-SMI 455.23.04    Driver Version: 455.23.04    CUDA Version: 11.1     |
|-------------------------------+----------------------+----------------------+
| GPU  Name        Persistence-M| Bus-Id        Disp.A | Volatile Uncorr. ECC |
| Fan  Temp  Perf  Pwr:Usage/Cap|         Memory-Usage | GPU-Util  Compute M. |
|                               |                      |               MIG M. |
|===============================+======================+======================|
|   0  GeForce RTX 3090    Off  | 00000000:01:00.0 Off |                  N/A |
|  0%   56C    P0    43W / 350W |      0MiB / 24267MiB |      0%      Default |
"""
"""Verbatim from https://github.com/NVIDIA/retinanet-examples/issues/278 (doctor-anchors Part 3)."""


def _write(tmp_path: Path, text: str, name: str = "report.txt") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_json_offline_validates_and_names_the_cause(invoke, tmp_path):
    result = invoke("explain", "--offline", "--json", _write(tmp_path, DOCKER_ERROR + HEALTHY_SMI))
    assert result.exit_code == 0
    doc = result.json()
    jsonschema.validate(doc, SCHEMA)
    assert doc["mode"] == "offline" and doc["status"] == "explained"
    assert doc["causes"][0]["id"] == "container_toolkit_missing"
    assert doc["decide"].startswith("gpucheck doctor --only container.toolkit")
    facts = {(f["name"], f["value"], f["line"]) for f in doc["facts"]}
    assert ("driver.version", "455.23.04", 3) in facts and ("gpu.name", "GeForce RTX 3090", 9) in facts
    assert any(p["kind"] == "nvidia-smi table" and p["error"] is None for p in doc["pasted"])


def test_stdin_is_read(invoke, monkeypatch):
    from typer.testing import CliRunner

    from gpucheck.cli import app

    result = CliRunner().invoke(app, ["explain", "--offline", "--json", "-"], input=DOCKER_ERROR)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["causes"][0]["id"] == "container_toolkit_missing"


def test_failure_it_cannot_explain_exits_1_and_lists_what_it_saw(invoke, tmp_path):
    text = (
        HEALTHY_SMI + "Traceback (most recent call last):\nValueError: the flux capacitor is out of phase\n"
    )
    result = invoke("explain", "--offline", "--json", _write(tmp_path, text))
    assert result.exit_code == 1
    doc = result.json()
    jsonschema.validate(doc, SCHEMA)
    assert doc["status"] == "unexplained" and doc["causes"] == []
    assert any("flux capacitor" in u["text"] for u in doc["unrecognised"])
    assert doc["decide"] == "gpucheck doctor"
    assert any(p["kind"] == "nvidia-smi table" for p in doc["pasted"])
    console = invoke("explain", "--offline", _write(tmp_path, text))
    assert console.exit_code == 1
    assert "cannot explain" in console.stdout and "flux capacitor" in console.stdout


def test_healthy_paste_is_no_failure(invoke, tmp_path):
    result = invoke("explain", "--offline", "--json", _write(tmp_path, HEALTHY_SMI))
    assert result.exit_code == 0
    assert result.json()["status"] == "no_failure"


def test_markdown_output(invoke, tmp_path):
    result = invoke("explain", "--offline", "--markdown", _write(tmp_path, DOCKER_ERROR))
    assert result.exit_code == 0
    assert result.stdout.startswith("### gpucheck explain")
    assert "container_toolkit_missing" in result.stdout and "gpucheck doctor --only" in result.stdout
    fix = next(line for line in result.stdout.splitlines() if line.strip().startswith("- fix:"))
    assert "`sudo nvidia-ctk runtime configure --runtime=docker`" in fix and "`` " not in fix


def test_console_output_leads_with_the_cause_and_the_deciding_command(invoke, tmp_path):
    result = invoke("explain", "--offline", _write(tmp_path, DOCKER_ERROR))
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Most likely cause: Docker has no GPU support")
    assert "the reporter should run" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--json", "--markdown"], "choose one"),
        (["--skip", "no-such-layer"], "matches no check"),
    ],
)
def test_usage_errors_exit_2(invoke, tmp_path, args, message):
    result = invoke("explain", "--offline", *args, _write(tmp_path, DOCKER_ERROR))
    assert result.exit_code == 2
    assert message in result.stderr


def test_unreadable_inputs_exit_2(invoke, tmp_path):
    assert invoke("explain", str(tmp_path / "missing.txt")).exit_code == 2
    assert invoke("explain", str(tmp_path)).exit_code == 2
    assert invoke("explain", _write(tmp_path, "   \n\n")).exit_code == 2
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    result = invoke("explain", str(fifo))
    assert result.exit_code == 2 and "not a regular file" in result.stderr


def test_real_process_prints_no_traceback(tmp_path):
    result = run_gpucheck("explain", "--offline", _write(tmp_path, "\x00\xff" * 100 + DOCKER_ERROR))
    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_live_mode_confirms_a_container_cause_on_a_host_without_the_toolkit(
    invoke, tmp_path, fake_bin, sysroot
):
    """A working driver (the healthy RTX 3090 recording), Docker present, no NVIDIA Container Toolkit."""
    expected = materialise(SCENARIOS / "healthy-rtx3090", fake_bin, sysroot.root)
    fake_bin.add("docker", "Docker version 26.1.5+dfsg1, build a72d7cd\n")
    result = invoke(
        "explain",
        "--json",
        "--sysroot",
        str(sysroot.root),
        "--skip",
        "torch,tensorflow,framework",
        _write(tmp_path, DOCKER_ERROR),
        env=expected["_env"],
    )
    doc = result.json()
    jsonschema.validate(doc, SCHEMA)
    assert doc["mode"] == "live" and result.exit_code == 0
    top = doc["causes"][0]
    assert (top["id"], top["verdict"]) == ("container_toolkit_missing", "confirmed")
    assert [f["status"] for f in top["findings"]] == ["fail"]
    assert "nvidia-container-toolkit" in top["fix"]
    confirmed = {f["check"] for c in doc["causes"] if c["verdict"] == "confirmed" for f in c["findings"]}
    assert all(f["check"] not in {"container.toolkit"} for f in doc["other_findings"]), doc["other_findings"]
    assert confirmed


def test_live_checks_that_rule_every_cause_out_exit_1_and_flag_the_other_machine(
    invoke, tmp_path, fake_bin, sysroot
):
    """The healthy RTX 3090 host (driver loaded) given a report from a machine whose driver failed."""
    expected = materialise(SCENARIOS / "healthy-rtx3090", fake_bin, sysroot.root)
    text = (
        "| NVIDIA-SMI 470.86       Driver Version: 470.86       CUDA Version: 11.4     |\n"
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
        "Make sure that the latest NVIDIA driver is installed and running.\n"
    )
    result = invoke(
        "explain",
        "--json",
        "--sysroot",
        str(sysroot.root),
        "--skip",
        "torch,tensorflow,framework,container",
        _write(tmp_path, text),
        env=expected["_env"],
    )
    doc = result.json()
    jsonschema.validate(doc, SCHEMA)
    assert {c["verdict"] for c in doc["causes"]} == {"ruled_out"}
    assert doc["status"] == "unexplained" and result.exit_code == 1
    assert "470.86" in doc["host_note"] and "--offline" in doc["host_note"]


def test_ordinary_log_words_are_not_failures(invoke, tmp_path):
    text = "epoch 3: 0 errors, loss 0.1\nwrote stderr.log\nerror_rate=0.02\n"
    result = invoke("explain", "--offline", "--json", _write(tmp_path, text))
    assert (result.exit_code, result.json()["status"]) == (0, "no_failure")


def test_a_shared_check_confirms_only_the_cause_its_finding_names(invoke, tmp_path, fake_bin, sysroot):
    """driver.loaded fails on the F02 host; its remediation mentions mokutil, yet only the missing-module
    cause is confirmed, and the undecided ones keep their own fixes."""
    expected = materialise(SCENARIOS / "f02-driver-not-loaded", fake_bin, sysroot.root)
    text = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n"
    result = invoke(
        "explain",
        "--json",
        "--sysroot",
        str(sysroot.root),
        "--skip",
        "torch,tensorflow,framework,container",
        _write(tmp_path, text),
        env=expected["_env"],
    )
    causes = {c["id"]: c for c in result.json()["causes"]}
    assert causes["driver_not_loaded"]["verdict"] == "confirmed"
    assert causes["secure_boot_blocks_module"]["verdict"] == "undecided"
    assert causes["nouveau_owns_gpu"]["fix"].startswith("Blacklist nouveau")
    assert "dkms" not in causes["secure_boot_blocks_module"]["fix"]
