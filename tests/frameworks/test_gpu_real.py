"""On a machine with an NVIDIA GPU: the real framework paths (skipped with a reason elsewhere)."""

from __future__ import annotations

import pytest

from tests.conftest import base_env, findings_by_check, run_gpucheck

pytestmark = [pytest.mark.gpu, pytest.mark.slow]


def test_doctor_framework_layers_on_a_gpu():
    env = base_env()
    result = run_gpucheck("doctor", "--json", "--only", "torch,tensorflow,framework", env=env, timeout=600)
    by_check = findings_by_check(result.json())
    (build,) = by_check["framework.cpu_build"][:1]
    if build["status"] == "fail":
        # A CPU wheel on a GPU host (the test extra's torch==2.13.0 is one): the remediation must be an exact
        # CUDA install, and the GPU paths below were not exercised, which the skip says out loud.
        assert (
            "download.pytorch.org/whl/cu" in build["remediation"]
            or "tensorflow[and-cuda]" in build["remediation"]
        ), build
        pytest.skip(
            "a CPU framework build on this GPU host: torch.kernel/amp/memory_fraction were not exercised; "
            "install a CUDA wheel (scripts/gpu-verify.sh does) and rerun"
        )
    for finding in by_check["torch.kernel"] + by_check["torch.amp"] + by_check["torch.memory_fraction"]:
        assert finding["status"] in ("pass", "warn", "skip"), finding
    assert by_check["torch.cuda"][0]["status"] == "pass", by_check["torch.cuda"]
