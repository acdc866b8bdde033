"""GPU-only outcomes: recorded worker output and log lines + NVML readings through the real checks."""

from __future__ import annotations

from gpucheck.diagnose.finding import Status
from tests.frameworks.helpers import TF, TORCH, evidence, findings, fixture, nvml, one, worker_run

RTX3090 = ("NVIDIA GeForce RTX 3090", "8.6", 24576)
A100 = ("NVIDIA A100-SXM4-80GB", "8.0", 81920)


def torch_run(json_name: str, stderr: str = "") -> object:
    return worker_run(TORCH, fixture(json_name), stderr)


def tf_run(json_name: str, stderr: str = "") -> object:
    return worker_run(TF, fixture(json_name), stderr)


def test_cpu_torch_wheel_on_gpu_host_gets_the_cuda_index_for_the_driver():
    ev = evidence(torch=torch_run("torch_cpu_worker.json"), system=nvml("550.54.14", 12040, [RTX3090]))
    result = one(ev, "framework.cpu_build")
    assert result.status is Status.FAIL
    # PyTorch runs cu126 wheels on R550 drivers through CUDA minor-version compatibility (malfet,
    # https://github.com/pytorch/pytorch/issues/155141): no driver upgrade; the same release's newest wheel,
    # cu129, whose full support needs 12.9's GA driver 575.51.03
    assert (
        "/opt/venv/bin/python -m pip install --force-reinstall 'torch==2.13.0' "
        "--index-url https://download.pytorch.org/whl/cu129"
    ) in result.remediation
    assert "minor-version compatibility" in result.remediation and "≥ 575.51.03" in result.remediation
    assert "upgrade" not in result.remediation.lower().split("`")[0]


def test_cpu_torch_wheel_exact_command_for_a_cuda_12_8_driver():
    ev = evidence(torch=torch_run("torch_cpu_worker.json"), system=nvml("570.124.06", 12080, [RTX3090]))
    result = one(ev, "framework.cpu_build")
    assert result.status is Status.FAIL
    assert (
        "/opt/venv/bin/python -m pip install --force-reinstall 'torch==2.13.0' "
        "--index-url https://download.pytorch.org/whl/cu129"
    ) in result.remediation  # torch 2.13.0 is published for cu129; a 12.8 driver runs 12.9 by minor compat


def test_pascal_gpu_on_a_cuda_13_driver_gets_the_cu126_build_that_still_has_sm_61():
    ev = evidence(
        torch=torch_run("torch_cpu_worker.json"),
        system=nvml("580.65.06", 13000, [("NVIDIA GeForce GTX 1080", "6.1", 8192)]),
    )
    assert "whl/cu126" in one(ev, "framework.cpu_build").remediation


def test_cpu_tensorflow_on_gpu_host():
    ev = evidence(tf=tf_run("tf_cpu_worker.json"), system=nvml("570.124.06", 12080, [RTX3090]))
    result = one(ev, "framework.cpu_build")
    assert result.status is Status.FAIL
    assert "pip uninstall -y tensorflow-cpu && " in result.remediation
    assert "-m pip install 'tensorflow[and-cuda]==2.21.0'" in result.remediation


def test_cpu_builds_on_cpu_host_pass():
    ev = evidence(torch=torch_run("torch_cpu_worker.json"), tf=tf_run("tf_cpu_worker.json"))
    assert one(ev, "framework.cpu_build").status is Status.PASS


def test_sm120_gpu_on_an_old_wheel():
    stderr = fixture("torch_sm120.log")
    ev = evidence(
        torch=torch_run("torch_gpu_rtx5090_cu124.json", stderr),
        system=nvml("570.124.06", 12080, [("NVIDIA GeForce RTX 5090", "12.0", 32607)]),
    )
    arch = one(ev, "framework.arch")
    assert arch.status is Status.FAIL
    assert "sm_120" in arch.summary and "newer than every architecture" in arch.summary
    assert "--index-url https://download.pytorch.org/whl/cu126" not in arch.remediation
    # cu126 lacks sm_120; torch 2.13's cu129 wheel has it and runs on R570 through minor-version
    # compatibility: no driver upgrade (and never to a proprietary >= 575 driver, which cannot drive it)
    assert "'torch==2.13.*' --index-url https://download.pytorch.org/whl/cu129" in arch.remediation
    assert "nvidia-driver-575" not in arch.remediation
    kernel = one(ev, "torch.kernel")
    assert kernel.status is Status.FAIL and "no kernel image" in kernel.summary


def test_sm120_with_a_cuda_13_driver_gets_cu130():
    ev = evidence(
        torch=torch_run("torch_gpu_rtx5090_cu124.json"),
        system=nvml("580.65.06", 13000, [("NVIDIA GeForce RTX 5090", "12.0", 32607)]),
    )
    assert (
        "install --force-reinstall 'torch==2.14.*' --index-url https://download.pytorch.org/whl/cu132"
        in one(ev, "framework.arch").remediation
    )


def test_gpu_too_old_for_the_wheel():
    ev = evidence(
        torch=torch_run("torch_gpu_rtx5090_cu124.json"),
        system=nvml("470.86", 11040, [("GeForce GT 740M", "3.0", 2048)]),
    )
    result = one(ev, "framework.arch")
    assert result.status is Status.FAIL and "older than every architecture" in result.summary


def test_driver_too_old_for_the_wheel():
    ev = evidence(
        torch=torch_run("torch_gpu_driver_too_old_cu121.json"),
        system=nvml("470.86", 11040, [("NVIDIA GeForce GTX 1080", "6.1", 8192)]),
    )
    (torch_finding,) = [f for f in findings(ev, "framework.cuda_driver")]
    assert torch_finding.status is Status.FAIL
    assert "built for CUDA 12.1, but driver 470.86 supports only CUDA 11.4" in torch_finding.summary
    assert "found version 11040" in torch_finding.summary
    assert "nvidia-driver-525" in torch_finding.remediation
    cuda = one(ev, "torch.cuda")
    assert cuda.status is Status.FAIL and "the driver supports only CUDA 11.4" in cuda.summary


def test_healthy_old_gpu_passes_and_fp16_requested_is_warned():
    ev = evidence(
        torch=torch_run("torch_gpu_gtx1050ti_cu117.json"),
        system=nvml("535.98", 12020, [("NVIDIA GeForce GTX 1050 Ti", "6.1", 4096)]),
    )
    for check_id in (
        "torch.cuda",
        "torch.kernel",
        "torch.memory_fraction",
        "framework.arch",
        "framework.cuda_driver",
    ):
        assert all(f.status is Status.PASS for f in findings(ev, check_id)), check_id
    precision = one(ev, "framework.mixed_precision", {"precision": "fp16"})
    assert precision.status is Status.WARN and "compute capability 6.1" in precision.summary
    assert "float32" in precision.remediation


def test_bf16_requested_on_turing_recommends_fp16():
    ev = evidence(system=nvml("535.98", 12020, [("Tesla T4", "7.5", 15360)]))
    result = one(ev, "framework.mixed_precision", {"precision": "bf16"})
    assert result.status is Status.WARN and "float16" in result.remediation


def test_tf_auto_mixed_precision_env_counts_as_a_request():
    ev = evidence(
        system=nvml("535.98", 12020, [("NVIDIA GeForce GTX 1050 Ti", "6.1", 4096)]),
        env={"TF_ENABLE_AUTO_MIXED_PRECISION": "1"},
    )
    assert one(ev, "framework.mixed_precision").status is Status.WARN


def test_tf_missing_cudnn_names_it():
    ev = evidence(
        tf=tf_run("tf_gpu_libs_missing.json", fixture("tf_libcudnn8_missing.log")),
        system=nvml("525.60.13", 12000, [RTX3090]),
    )
    result = one(ev, "tensorflow.gpu_libraries")
    assert result.status is Status.FAIL
    assert "could not load libcudnn.so.8" in result.summary and "CUDA 11.2, cuDNN 8" in result.summary
    # TF 2.11 has no [and-cuda] extra (pip CUDA wheels start at 2.14): the fix is a release that has them
    assert "'tensorflow[and-cuda]==2.21.*'" in result.remediation
    assert "and-cuda]==2.11" not in result.remediation


def test_tf_cudnn_mismatch():
    ev = evidence(
        tf=tf_run("tf_gpu_two_a100.json", fixture("tf_cudnn_mismatch.log")),
        system=nvml("550.54.14", 12040, [A100, A100]),
    )
    result = one(ev, "framework.cudnn")
    assert result.status is Status.FAIL
    assert "loaded cuDNN 9.1.0 but was built against 9.3.0" in result.summary
    # TF 2.18+ is built against cuDNN 9.3: stay within cuDNN 9
    assert "'nvidia-cudnn-cu12>=9.3,<10'" in result.remediation


def test_tf_no_driver():
    ev = evidence(tf=tf_run("tf_gpu_libs_missing.json", fixture("tf_cuinit_no_device.log")))
    result = one(ev, "tensorflow.gpu_libraries")
    assert result.status is Status.FAIL and "CUDA_ERROR_NO_DEVICE" in result.summary


def test_fewer_gpus_than_nvml_names_cuda_visible_devices():
    ev = evidence(
        tf=tf_run("tf_gpu_two_a100.json"),
        system=nvml("550.54.14", 12040, [A100] * 4),
        env={"CUDA_VISIBLE_DEVICES": "0,1"},
    )
    result = one(ev, "framework.gpu_count")
    assert result.status is Status.WARN
    assert "sees 2 GPU(s) but the driver reports 4" in result.summary
    assert (
        "CUDA_VISIBLE_DEVICES='0,1'" in result.summary
        and "export CUDA_VISIBLE_DEVICES=0,1,2,3" in result.remediation
    )


def test_tf_gpu_host_memory_growth_and_policy():
    ev = evidence(tf=tf_run("tf_gpu_two_a100.json"), system=nvml("550.54.14", 12040, [A100, A100]))
    assert one(ev, "tensorflow.memory_growth").status is Status.PASS
    assert "mixed_bfloat16" in one(ev, "tensorflow.mixed_precision").summary
    assert one(ev, "framework.gpu_count").status is Status.PASS


def test_crashed_worker_is_an_error_with_the_signal_and_last_lines():
    run = worker_run(
        TORCH, "", "[gpucheck-worker] step devices\nFatal Python error: Segmentation fault\n", -11
    )
    result = one(evidence(torch=run), "torch.install")
    assert result.status is Status.ERROR
    assert "killed by SIGSEGV during step 'devices'" in result.summary
    assert "Fatal Python error: Segmentation fault" in result.summary
    assert one(evidence(torch=run), "torch.cuda").status is Status.SKIP


def test_timed_out_worker():
    run = worker_run(TF, "", "[gpucheck-worker] step import\n", None, timed_out=True, duration_s=150.0)
    result = one(evidence(tf=run), "tensorflow.install")
    assert (
        result.status is Status.ERROR
        and "did not finish within 150 s (hung during step 'import')" in result.summary
    )


def test_not_installed_is_a_skip_with_the_install_command():
    out = '{"worker": "torch", "import": {"ok": false, "not_installed": true, "error": "ModuleNotFound"}}'
    ev = evidence(torch=worker_run(TORCH, out), system=nvml("570.124.06", 12080, [RTX3090]))
    result = one(ev, "torch.install")
    assert result.status is Status.SKIP
    assert (
        "-m pip install --force-reinstall 'torch==2.14.*' --index-url https://download.pytorch.org/whl/cu126"
        in result.summary
    )
