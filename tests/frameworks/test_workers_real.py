"""The real workers: torch 2.13 CPU and tensorflow-cpu in subprocesses, crashes, hangs, other interpreters."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gpucheck.collect.registry import CollectContext
from gpucheck.collect.sources.frameworks import collect_tensorflow, collect_torch
from gpucheck.diagnose.finding import Status
from gpucheck.diagnose.parse.framework_workers import worker_report
from tests.conftest import base_env, findings_by_check, run_gpucheck
from tests.frameworks.helpers import evidence, one

pytestmark = pytest.mark.slow


def ctx(python: str = "", **options) -> CollectContext:
    return CollectContext(env=base_env(), python=python, options=options)


def test_real_torch_worker_on_cpu():
    (run,) = collect_torch(ctx())
    report = worker_report(run, "torch")
    assert report.state == "ok", run.stderr[-2000:]
    assert report.get("build", "cuda") is None and report.get("devices", "available") is False
    assert report.get("amp", "steps", "bfloat16", "output_dtype") == "bfloat16"
    assert report.get("amp", "steps", "float16", "scale") == 65536.0
    ev = evidence(torch=run)
    assert [f.status for f in [one(ev, "torch.install"), one(ev, "torch.cuda")]] == [Status.PASS, Status.SKIP]
    # one process start, every step timed (import first), and the loss went down under the GradScaler
    assert list(report.get("timings")) == ["import", "build", "devices", "amp", "tf32"]
    assert one(ev, "torch.install").data["timings"]["import"] == report.get("timings", "import")
    step = report.get("amp", "steps", "float16")
    assert step["loss_after"] < step["loss"] and step["grad_dtype"] == "float32"
    assert run.stderr.count("[gpucheck-worker] step import") == 1


def test_real_tf_worker_splits_the_cpu_and_trains_under_mixed_bfloat16():
    (run,) = collect_tensorflow(ctx(tf_logical_gpus=3))
    report = worker_report(run, "tensorflow")
    assert report.state == "ok", run.stderr[-2000:]
    assert run.argv[2:] == ("--logical-gpus", "3")
    assert report.get("logical", "cpu_count") == 3
    assert report.get("logical", "placed_on").endswith("device:CPU:2")
    assert report.get("mixed_precision", "compute_dtype") == "bfloat16"
    ev = evidence(tf=run)
    timings = report.get("timings")
    assert list(timings)[:2] == ["import", "build"] and "mixed_precision" in timings
    assert one(ev, "tensorflow.logical_devices").status is Status.PASS
    assert one(ev, "tensorflow.mixed_precision").status is Status.PASS


def test_real_tf_worker_with_fp16_requested_uses_a_loss_scale_optimizer():
    (run,) = collect_tensorflow(ctx(precision="fp16"))
    report = worker_report(run, "tensorflow")
    assert report.get("mixed_precision", "policy") == "mixed_float16"
    assert report.get("mixed_precision", "optimizer") == "LossScaleOptimizer"


def test_worker_killed_by_sigsegv(fake_bin):
    python = fake_bin.add_script("python", 'echo "[gpucheck-worker] step import" >&2\nkill -SEGV $$')
    (run,) = collect_torch(ctx(str(python)))
    assert run.returncode == -11
    finding = one(evidence(torch=run), "torch.install")
    assert finding.status is Status.ERROR
    assert "killed by SIGSEGV during step 'import'" in finding.summary


def test_real_python_that_segfaults_in_the_worker(tmp_path):
    python = tmp_path / "python"
    python.write_text(f"#!/bin/sh\nexec {sys.executable} -c 'import ctypes; ctypes.string_at(0)' \"$@\"\n")
    python.chmod(0o755)
    (run,) = collect_tensorflow(ctx(str(python)))
    report = worker_report(run, "tensorflow")
    assert report.state == "crashed" and "SIGSEGV" in report.detail


def test_hung_worker_times_out(fake_bin):
    python = fake_bin.add_script("python", 'echo "[gpucheck-worker] step import" >&2\nexec sleep 30')
    (run,) = collect_torch(ctx(str(python), worker_timeout_s=1))
    finding = one(evidence(torch=run), "torch.install")
    assert finding.status is Status.ERROR and "hung during step 'import'" in finding.summary


@pytest.fixture(scope="module")
def plain_venv(tmp_path_factory) -> Path:
    """A venv without torch, tensorflow or gpucheck."""
    path = tmp_path_factory.mktemp("venv") / "plain"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    return path / "bin" / "python"


@pytest.fixture(scope="module")
def system_venv(tmp_path_factory) -> Path:
    """A venv of its own (its own interpreter path) that sees the running interpreter's torch and tensorflow.

    NOTE: ``--system-site-packages`` shows the *base* interpreter's packages; when the suite runs inside a
    virtualenv, torch and tensorflow sit in that virtualenv's own site-packages, which the new venv would
    not see. A ``.pth`` file naming every site-packages directory of the running interpreter works in both.
    """
    path = tmp_path_factory.mktemp("venv") / "outer"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    outer = [p for p in sys.path if p.endswith(("site-packages", "dist-packages")) and Path(p).is_dir()]
    (Path(purelib) / "outer-site-packages.pth").write_text("\n".join(outer) + "\n")
    return python


def test_plain_venv_reports_not_installed_with_the_install_command(plain_venv):
    (run,) = collect_torch(ctx(str(plain_venv)))
    report = worker_report(run, "torch")
    assert report.state == "not_installed"
    finding = one(evidence(torch=run), "torch.install")
    assert finding.status is Status.SKIP
    assert (
        f"{plain_venv} -m pip install torch --index-url https://download.pytorch.org/whl/cpu"
        in finding.summary
    )


def test_doctor_probes_another_interpreter(system_venv):
    env = base_env()
    result = run_gpucheck(
        "doctor",
        "--json",
        "--only",
        "torch.install,tensorflow.install",
        "--python",
        str(system_venv),
        env=env,
        timeout=300,
    )
    by_check = findings_by_check(result.json())
    for check_id in ("torch.install", "tensorflow.install"):
        (finding,) = by_check[check_id]
        assert finding["status"] == "pass", finding
        assert str(system_venv) in finding["summary"]


def test_doctor_full_framework_layers_on_this_cpu_machine():
    result = run_gpucheck(
        "doctor", "--json", "--only", "torch,tensorflow,framework", env=base_env(), timeout=300
    )
    doc = json.loads(result.stdout)
    statuses = {f["check"]: f["status"] for f in doc["findings"]}
    assert statuses["torch.amp"] == "pass" and statuses["tensorflow.logical_devices"] == "pass"
    assert "error" not in statuses.values() and "fail" not in statuses.values(), doc["findings"]
    assert result.exit_code == 0
