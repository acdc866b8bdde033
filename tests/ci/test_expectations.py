"""Expectation checks via the real doctor on the hand-written H100 snapshot and the worker fixtures."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gpucheck.ci.config import build_expectations
from gpucheck.collect.evidence import CollectorStatus
from gpucheck.diagnose.finding import Status
from gpucheck.diagnose.registry import Check, load_checks, run_check
from tests.conftest import findings_by_check, run_gpucheck
from tests.frameworks import helpers
from tests.frameworks.helpers import TF, TORCH, fixture, nvml, worker_run

SNAPSHOT = Path(__file__).parent.parent / "fixtures" / "system" / "snapshots" / "nvml_two_h100.json"


def doctor(invoke, *expect: str):
    result = invoke(
        "doctor", "--replay", str(SNAPSHOT), "--json", "--ci", "none", "--only", "expect", *expect
    )
    return result.exit_code, findings_by_check(result.json()) if result.stdout.startswith("{") else {}


def test_matching_expectations_pass_with_measured_and_expected_values(invoke):
    code, found = doctor(
        invoke,
        "--expect-gpus",
        "2",
        "--expect-gpu-name",
        "h100",
        "--expect-driver",
        ">=550,<560",
        "--expect-cuda",
        "12.4",
        "--expect-mem-gib",
        "80",
    )
    assert code == 0
    assert {c: [f["status"] for f in fs] for c, fs in found.items()} == {
        "expect.gpus": ["pass"],
        "expect.gpu_name": ["pass"],
        "expect.driver": ["pass"],
        "expect.cuda": ["pass"],
        "expect.mem_gib": ["pass"],
    }
    assert found["expect.gpus"][0]["data"] == {
        "expected": 2,
        "measured": 2,
        "names": ["NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3"],
    }
    assert found["expect.driver"][0]["summary"] == "driver 550.54.14, expected >=550,<560"
    assert found["expect.driver"][0]["data"] == {"expected": ">=550,<560", "measured": "550.54.14"}
    # 81559 MiB is 79.6 GiB: an 80 GB card passes --expect-mem-gib 80 (the driver keeps some for itself).
    assert found["expect.mem_gib"][0]["data"]["measured"] == {"0": 79.6, "1": 79.6}


def test_each_unmet_expectation_is_its_own_failure_with_a_remediation(invoke):
    code, found = doctor(
        invoke,
        "--expect-gpus",
        "8",
        "--expect-gpu-name",
        "^NVIDIA A100",
        "--expect-driver",
        ">=560",
        "--expect-cuda",
        ">=12.6",
        "--expect-mem-gib",
        "94",
    )
    assert code == 1
    assert (
        all(fs[0]["status"] == "fail" and fs[0]["remediation"] for fs in found.values()) and len(found) == 5
    )
    assert found["expect.gpus"][0]["summary"] == "2 GPU(s) visible, expected 8"
    assert found["expect.gpu_name"][0]["summary"] == (
        "GPU model(s): NVIDIA H100 80GB HBM3; expected names matching /^NVIDIA A100/"
    )
    assert found["expect.cuda"][0]["summary"] == "driver CUDA 12.4, expected >=12.6"
    assert (
        found["expect.mem_gib"][0]["summary"] == "GPU 0: 79.6 GiB, GPU 1: 79.6 GiB; expected ≥ 94 GiB per GPU"
    )
    assert "`--expect-driver '>=560'`" in found["expect.driver"][0]["remediation"]


def test_no_expectations_means_no_expectation_findings(invoke):
    result = invoke("doctor", "--replay", str(SNAPSHOT), "--json", "--ci", "none")
    assert not [f for f in result.json()["findings"] if f["layer"] == "expect"]


def test_config_file_and_flag_override(invoke, tmp_path: Path):
    config = tmp_path / "pool.toml"
    config.write_text('[expect]\ngpus = 8\ndriver = ">=550"\n')
    code, found = doctor(invoke, "--config", str(config), "--expect-gpus", "2")
    assert code == 0 and found["expect.gpus"][0]["data"]["expected"] == 2
    assert found["expect.driver"][0]["status"] == "pass"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--expect-driver", "latest"], "--expect-driver 'latest' is not a version specifier"),
        (["--expect-gpu-name", "("], "--expect-gpu-name '(' is not a valid regular expression"),
        (["--expect-framework", "jax"], "--expect-framework 'jax': expected one of torch, tensorflow"),
        (["--config", "/nonexistent/pool.toml"], "--config /nonexistent/pool.toml: cannot read it"),
        (["--ci", "jenkins"], "--ci jenkins: choose auto, github, gitlab or none"),
        (["--json", "--markdown"], "--json and --markdown both print to stdout"),
    ],
)
def test_bad_expectations_are_usage_errors(invoke, args: list[str], message: str):
    result = invoke("doctor", "--replay", str(SNAPSHOT), *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("gpucheck: error: ") and message in result.stderr


def _run(check_id: str, ev, **expect) -> list:
    checks: dict[str, Check] = load_checks()
    return run_check(checks[check_id], helpers.Facts(ev, {"expectations": build_expectations(**expect)}))


H100 = nvml("550.54.14", 12040, [("NVIDIA H100 80GB HBM3", "9.0", 81559)])


def test_expect_torch_passes_only_when_torch_sees_a_gpu():
    gpu = helpers.evidence(torch=worker_run(TORCH, fixture("torch_gpu_gtx1050ti_cu117.json")), system=H100)
    [ok] = _run("expect.torch", gpu, frameworks=["torch"])
    assert ok.status is Status.PASS and ok.summary == "torch sees 1 GPU(s); expected at least 1"
    cpu = helpers.evidence(torch=worker_run(TORCH, fixture("torch_cpu_worker.json")), system=H100)
    [bad] = _run("expect.torch", cpu, frameworks=["torch"])
    assert bad.status is Status.FAIL and bad.data == {"expected": ">=1 GPU", "measured": 0, "state": "ok"}
    missing = helpers.evidence(torch=worker_run(TORCH, "", "ModuleNotFoundError: No module named 'torch'", 1))
    [gone] = _run("expect.torch", missing, frameworks=["torch"])
    assert gone.status is Status.FAIL and "torch sees 0 GPU(s) (" in gone.summary


def test_expect_tensorflow_counts_physical_gpus():
    two = helpers.evidence(tf=worker_run(TF, fixture("tf_gpu_two_a100.json")), system=H100)
    [ok] = _run("expect.tensorflow", two, frameworks=["tensorflow"])
    assert ok.status is Status.PASS and ok.data["measured"] == 2
    cpu = helpers.evidence(tf=worker_run(TF, fixture("tf_cpu_worker.json")), system=H100)
    assert _run("expect.tensorflow", cpu, frameworks=["tensorflow"])[0].status is Status.FAIL
    # Expecting torch only: the TensorFlow expectation check says nothing.
    assert _run("expect.tensorflow", two, frameworks=["torch"]) == []


def _no_driver():
    """NVML missing, nvidia-smi and procfs collected but silent: a machine without a driver."""
    ev = helpers.evidence()
    ev.collectors["procfs"] = CollectorStatus(name="procfs", ok=True, duration_s=0.1)
    return ev


def test_version_expectation_without_a_driver_fails_clearly():
    [finding] = _run("expect.driver", _no_driver(), driver=">=550")
    assert finding.status is Status.FAIL
    assert finding.summary == "no driver version could be read (no NVIDIA driver answered); expected >=550"


def test_gpu_name_with_no_gpu_fails():
    [finding] = _run("expect.gpu_name", _no_driver(), gpu_name="H100")
    assert finding.status is Status.FAIL and finding.data["measured"] == []


def test_optional_checks_may_return_nothing_but_others_may_not():
    facts = helpers.Facts(helpers.evidence(), {})
    optional = Check(id="expect.x", title="t", needs=(), func=lambda f: [], optional=True)
    assert run_check(optional, facts) == []
    required = Check(id="gpu.x", title="t", needs=(), func=lambda f: [])
    assert run_check(required, facts)[0].status is Status.ERROR


@pytest.mark.gpu
def test_a_real_gpu_machine_meets_the_contract_read_from_itself():
    listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30).stdout
    count = sum(1 for line in listed.splitlines() if line.startswith("GPU "))
    result = run_gpucheck(
        "doctor",
        "--json",
        "--ci",
        "none",
        "--only",
        "driver,gpu,expect",
        "--expect-gpus",
        str(count),
        "--expect-driver",
        ">=1",
        "--expect-cuda",
        ">=1",
        "--expect-mem-gib",
        "1",
    )
    found = findings_by_check(result.json())
    for check in ("expect.gpus", "expect.driver", "expect.cuda", "expect.mem_gib"):
        assert found[check][0]["status"] == "pass", found[check]
    assert found["expect.gpus"][0]["data"]["measured"] == count
