"""The real CLI on a recorded GPU host (fake nvidia-smi), a fake interpreter replaying recorded workers."""

from __future__ import annotations

from pathlib import Path

from gpucheck.collect.sources.frameworks import TF_WORKER, TORCH_WORKER, worker_path
from tests.conftest import findings_by_check
from tests.frameworks.helpers import fixture
from tests.test_scenarios import SCENARIOS, materialise

ONLY = "torch,tensorflow,framework"


def gpu_host(fake_bin, sysroot, torch_json: str, tf_json: str, torch_err="", tf_err="", tf_args="") -> dict:
    expected = materialise(SCENARIOS / "healthy-rtx3090", fake_bin, sysroot.root)
    fake_bin.add(
        "python",
        "",
        stderr="unexpected call",
        exit_code=2,
        by_args={
            worker_path(TORCH_WORKER): (fixture(torch_json), torch_err, 0),
            f"{worker_path(TF_WORKER)}{tf_args}": (fixture(tf_json), tf_err, 0),
        },
    )
    env = dict(expected["_env"], GPUCHECK_DISABLE_NVML="1")
    return env


def doctor(invoke, env, fake_bin, *args: str) -> dict:
    python = str(Path(fake_bin.path) / "python")
    result = invoke("doctor", "--json", "--only", ONLY, "--python", python, *args, env=env)
    return findings_by_check(result.json())


def test_cpu_builds_on_a_550_driver_host(fake_bin, sysroot, invoke):
    env = gpu_host(fake_bin, sysroot, "torch_cpu_worker.json", "tf_cpu_worker.json")
    found = doctor(invoke, env, fake_bin)
    torch_build, tf_build = found["framework.cpu_build"]
    assert torch_build["status"] == "fail" and "CPU-only build" in torch_build["summary"]
    # driver 550.54.14 reports CUDA 12.4 and runs every CUDA 12.x wheel through minor-version compatibility
    # (PyTorch runs cu126+ wheels on R550, pytorch/pytorch#155141): torch 2.13.0's newest 12.x wheel is cu129
    assert "'torch==2.13.0' --index-url https://download.pytorch.org/whl/cu129" in torch_build["remediation"]
    assert "upgrade the driver" not in torch_build["remediation"]
    assert tf_build["status"] == "fail" and "pip uninstall -y tensorflow-cpu" in tf_build["remediation"]


def test_sm120_host_through_the_cli(fake_bin, sysroot, invoke):
    env = gpu_host(
        fake_bin,
        sysroot,
        "torch_gpu_rtx5090_cu124.json",
        "tf_gpu_two_a100.json",
        torch_err=fixture("torch_sm120.log"),
        tf_err=fixture("tf_cudnn_mismatch.log"),
        tf_args=" --precision bf16",
    )
    found = doctor(invoke, env, fake_bin, "--precision", "bf16")
    (kernel,) = found["torch.kernel"]
    assert kernel["status"] == "fail" and "no kernel image" in kernel["summary"]
    (cudnn,) = found["framework.cudnn"]
    assert cudnn["status"] == "fail" and "9.1.0" in cudnn["summary"]
    (policy,) = found["tensorflow.mixed_precision"]
    assert policy["status"] == "pass"
    (precision,) = found["framework.mixed_precision"]
    assert precision["status"] == "pass" and "bf16 requested" in precision["summary"]
