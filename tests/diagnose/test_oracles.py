"""Oracles from outside the code: verbatim nvidia-smi failure texts from public threads, and this machine.

Each text below is copied from the thread named beside it (the expected class is what the thread's
resolution showed the cause to be), so a change to the signature table that stops recognising a real
message fails here. These tests run in-process so that mutation testing (scripts/mutation.py) can see them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from gpucheck.diagnose.parse.nvidia_smi import SmiFailure, classify_failure
from tests.conftest import findings_by_check

NVML_NOT_FOUND = (
    "NVIDIA-SMI couldn't find libnvidia-ml.so library in your system. Please make sure that the NVIDIA "
    "Display Driver is properly installed and present in your system.\n"
    "Please also try adding directory that contains libnvidia-ml.so to your system PATH.\n"
)
"""https://github.com/NVIDIA/nvidia-docker/issues/1163 (inside a container; `ldconfig` fixed it)."""

REAL_FAILURES = [
    # (verbatim output, exit code when the thread gives it, expected class, source)
    (NVML_NOT_FOUND, None, SmiFailure.NVML_NOT_FOUND, "NVIDIA/nvidia-docker#1163"),
    (
        "Failed to initialize NVML: Insufficient Permissions\n",
        None,
        SmiFailure.NO_PERMISSION,
        "NVIDIA/nvidia-container-toolkit#210 (rootless podman, CDI device nodes without the user's group)",
    ),
    (
        "WARNING: infoROM is corrupted at gpu 0000:B3:00.0\n",
        14,
        SmiFailure.INFOROM_CORRUPTED,
        "NVIDIA/gpu-operator#20 (printed after the table; rc 14 per microsoft/pai#3756)",
    ),
    (
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the "
        "latest NVIDIA driver is installed and running.\n",
        9,
        SmiFailure.DRIVER_NOT_LOADED,
        "shared/reference/doctor-anchors.md F02 (qixuema/envs#4)",
    ),
    (
        "Failed to initialize NVML: Driver/library version mismatch\n",
        18,
        SmiFailure.VERSION_MISMATCH,
        "anderskm/gputil#55 (rc 18 observed)",
    ),
    (
        "Failed to initialize NVML: GPU access blocked by the operating system\n",
        None,
        SmiFailure.WSL_ACCESS_BLOCKED,
        "doctor-anchors.md (nvidia-utils installed inside WSL)",
    ),
    (
        'Field "compute_cap" is not a valid field to query.\n',
        2,
        SmiFailure.UNKNOWN_FIELD,
        "huggingface/candle#733 (driver 470.182.03)",
    ),
    (
        "Failed to initialize NVML: Unknown Error\n",
        None,
        SmiFailure.NVML_UNKNOWN_ERROR,
        "doctor-anchors.md F29 (inside a running container after a systemd reload)",
    ),
    ("No devices were found\n", 6, SmiFailure.NO_DEVICES, "anderskm/gputil (rc 6 observed)"),
]


@pytest.mark.parametrize("text,code,expected,source", REAL_FAILURES, ids=[r[3][:40] for r in REAL_FAILURES])
def test_real_failure_text_is_classified(
    text: str, code: int | None, expected: SmiFailure, source: str
) -> None:
    assert classify_failure(text, code) is expected, source


@pytest.mark.parametrize("text,code,expected,source", REAL_FAILURES, ids=[r[3][:40] for r in REAL_FAILURES])
def test_real_failure_text_is_classified_by_its_words_alone(
    text: str, code: int | None, expected: SmiFailure, source: str
) -> None:
    """The message decides, whatever the exit code (a wrapper script may exit 1 for all of them)."""
    assert classify_failure(text, 1) is expected, source


def test_exit_codes_from_the_man_page_without_a_message() -> None:
    assert classify_failure("", 9) is SmiFailure.DRIVER_NOT_LOADED
    assert classify_failure("", 12) is SmiFailure.NVML_NOT_FOUND
    assert classify_failure("", 14) is SmiFailure.INFOROM_CORRUPTED
    assert classify_failure("", 15) is SmiFailure.GPU_LOST
    assert classify_failure("", 4) is SmiFailure.NO_PERMISSION
    assert classify_failure("", 255) is SmiFailure.OTHER
    assert classify_failure("GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-x)\n", 0) is None


THIS_MACHINE = (
    Path("/usr/local/cuda-13.0/bin/nvcc").exists()
    and shutil.which("nvidia-smi") is None
    and not Path("/proc/driver/nvidia/version").exists()
)


@pytest.mark.skipif(
    not THIS_MACHINE, reason="needs the CUDA 13.0 toolkit at /usr/local/cuda-13.0 and no driver"
)
def test_one_toolkit_reached_two_ways_does_not_shadow_itself(invoke) -> None:
    """/usr/local/cuda → cuda-13.0 and the real directory are the same 13.0: nothing is shadowed."""
    env = {
        "PATH": "/usr/local/cuda-13.0/bin:/usr/local/bin:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/root"),
        "NO_COLOR": "1",
        "CUDA_HOME": "/usr/local/cuda",
    }
    result = invoke("doctor", "--json", "--only", "toolkit", env=env)
    import json

    shadowed = findings_by_check(json.loads(result.stdout))["toolkit.shadowed"][0]
    assert shadowed["status"] == "pass", shadowed
    assert "CUDA 13.0 on PATH is the newest toolkit installed" in shadowed["summary"]
