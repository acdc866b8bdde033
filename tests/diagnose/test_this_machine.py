"""This development machine is a real case: a CUDA 13.0 toolkit, no NVIDIA driver, no GPU.

Runs the real CLI as a subprocess with the machine's own PATH, so discovery goes through /usr/local/bin/nvcc
(a wrapper script) and /usr/local/cuda → /usr/local/cuda-13.0. Skipped wherever that does not hold.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import findings_by_check, run_gpucheck

HOLDS = (
    Path("/usr/local/cuda-13.0/bin/nvcc").exists()
    and shutil.which("nvidia-smi") is None
    and not Path("/proc/driver/nvidia/version").exists()
)

IN_CONTAINER = Path("/.dockerenv").exists() or Path("/run/.containerenv").exists()

REASON = "needs the CUDA 13.0 toolkit at /usr/local/cuda-13.0 and no NVIDIA driver"


@pytest.mark.skipif(not HOLDS, reason=REASON)
def test_toolkit_13_without_driver_or_gpu() -> None:
    env = {**os.environ, "PATH": "/usr/local/bin:/usr/bin:/bin", "NO_COLOR": "1"}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    result = run_gpucheck("doctor", "--json", "--only", "driver,gpu,toolkit,compat,wsl,environ", env=env)
    assert result.exit_code == 1, result.stderr
    found = findings_by_check(result.json())
    toolkit = found["toolkit.nvcc"][0]
    assert toolkit["status"] == "pass"
    assert "CUDA 13.0 toolkit (nvcc 13.0.88)" in toolkit["summary"]
    assert found["toolkit.runtime_library"][0]["status"] == "pass"
    assert "libcudart.so.13" in found["toolkit.runtime_library"][0]["summary"]
    driver = found["driver.loaded"][0]
    assert driver["status"] == "fail"
    if IN_CONTAINER:  # the driver belongs on the host: never an install inside the container
        assert "no NVIDIA driver is visible inside this" in driver["summary"]
        assert driver["remediation"].startswith("On the host, not inside this")
    else:
        assert "no NVIDIA driver is loaded and no NVIDIA GPU is visible" in driver["summary"]
    assert "NVMLError_LibraryNotFound" in driver["summary"]
    assert "580.65.06" in driver["remediation"] and "nvidia-driver-580" in driver["remediation"]
    assert found["gpu.present"][0]["status"] == "skip"
    compat = found["compat.toolkit_driver"][0]
    assert compat["status"] == "skip" and "driver ≥ 580.65.06" in compat["summary"]
    # The root cause comes first in the chain: no GPU on the PCI bus (when sysfs is readable here).
    pci = found["driver.pci_devices"][0]
    if pci["status"] == "fail":
        assert "no NVIDIA GPU on the PCI bus" in pci["summary"] and pci["caused_by"] == []
        for consequence in ("driver.loaded", "gpu.present", "compat.toolkit_driver"):
            assert found[consequence][0]["caused_by"] == ["driver.pci_devices"], consequence
    assert found["toolkit.nvcc"][0]["caused_by"] == []
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.skipif(not HOLDS, reason=REASON)
def test_toolkit_off_path_gets_exact_shell_lines() -> None:
    env = {**os.environ, "PATH": "/usr/bin:/bin", "NO_COLOR": "1"}
    result = run_gpucheck("doctor", "--json", "--only", "toolkit", env=env)
    toolkit = findings_by_check(result.json())["toolkit.nvcc"][0]
    assert toolkit["status"] == "warn"
    assert "export PATH=/usr/local/cuda/bin:$PATH" in toolkit["remediation"]
    assert "export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}" in toolkit["remediation"]
