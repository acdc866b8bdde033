"""Ranking rules: facts read from the same text move the causes, with the lines they rest on."""

from __future__ import annotations

from gpucheck.explain.engine import explain_text
from gpucheck.explain.text import clean

SM120 = (
    "NVIDIA GeForce RTX 5090 with CUDA capability sm_120 is not compatible with the current PyTorch "
    "installation.\n"
)
"""The warning line of https://github.com/pytorch/pytorch/issues/167244 (without its 'supports' line)."""


def _causes(text: str) -> dict[str, object]:
    return {c.cause.id: c for c in explain_text(clean(text)).causes}


def test_wheel_architectures_come_from_the_knowledge_table_when_the_text_lacks_them():
    causes = _causes("torch                   2.14.0+cu126\n" + SM120)
    arch = causes["torch_arch_missing"]
    assert any("torch_wheels" in r or "build_env_setup.py" in r for r in arch.reasons), arch.reasons
    assert "--index-url https://download.pytorch.org/whl/cu1" in arch.fix
    assert "sm_120" in arch.fix


def test_a_driver_new_enough_for_the_wheel_argues_against_driver_too_old():
    text = (
        "| NVIDIA-SMI 550.144.03             Driver Version: 550.144.03     CUDA Version: 12.4     |\n"
        "torch 2.5.1+cu121\n"
        "RuntimeError: CUDA error: CUDA driver version is insufficient for CUDA runtime version\n"
    )
    cause = _causes(text)["driver_too_old_for_cuda"]
    assert any(r.startswith("against:") and "new enough" in r for r in cause.reasons)


def test_a_working_host_driver_demotes_driver_absent_causes():
    text = (
        "| NVIDIA-SMI 455.23.04    Driver Version: 455.23.04    CUDA Version: 11.1     |\n"
        "|   0  GeForce RTX 3090    Off  | 00000000:01:00.0 Off |                  N/A |\n"
        "Could not find cuda drivers on your machine, GPU will not be used.\n"
    )
    causes = _causes(text)
    assert "no_driver_installed" not in causes or causes["no_driver_installed"].score < 0.3


def test_docker_info_without_nvidia_runtime_supports_configuration_causes():
    text = (
        "Error response from daemon: unknown or invalid runtime name: nvidia\n"
        " Runtimes: io.containerd.runc.v2 runc\n"
    )
    cause = _causes(text)["nvidia_runtime_not_configured"]
    assert any("docker info lists no nvidia runtime" in r for r in cause.reasons)


def test_cuda_visible_devices_empty_is_a_cause_on_its_own():
    text = "CUDA_VISIBLE_DEVICES= python train.py\nRuntimeError: CUDA error: invalid device ordinal\n"
    explanation = explain_text(clean(text))
    assert explanation.identified[0].cause.id == "cuda_visible_devices_wrong"
