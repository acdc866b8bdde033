"""Build evidence from recorded worker output + NVML readings and run the real checks over it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from gpucheck.collect.evidence import CollectorStatus, CommandRun, Evidence, Value
from gpucheck.collect.sources.frameworks import TF_WORKER, TORCH_WORKER, worker_path
from gpucheck.diagnose.facts import Facts
from gpucheck.diagnose.registry import load_checks, run_check

FIXTURES = Path(__file__).parent.parent / "fixtures" / "frameworks"
PYTHON = "/opt/venv/bin/python"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def worker_run(
    worker: str, stdout: str = "", stderr: str = "", returncode: int | None = 0, **kw: Any
) -> CommandRun:
    return CommandRun(
        argv=(PYTHON, worker_path(worker)), returncode=returncode, stdout=stdout, stderr=stderr, **kw
    )


def nvml(driver: str, cuda_api: int, gpus: list[tuple[str, str, int]]) -> Value:
    """NVML readings in the nvml collector's shape: (name, compute capability, memory MiB) per GPU."""
    return Value(
        name="nvml",
        data={
            "driver_version": driver,
            "cuda_driver_version": cuda_api,
            "gpus": [
                {
                    "index": i,
                    "name": n,
                    "uuid": f"GPU-{i}",
                    "pci.bus_id": f"00000000:0{i}:00.0",
                    "memory.total": mem,
                    "compute_cap": cc,
                }
                for i, (n, cc, mem) in enumerate(gpus)
            ],
        },
    )


NO_NVML = Value(name="nvml", error="NVMLError_LibraryNotFound: NVML Shared Library Not Found")


def evidence(
    torch: CommandRun | None = None,
    tf: CommandRun | None = None,
    system: Value = NO_NVML,
    env: dict[str, str] | None = None,
) -> Evidence:
    ev = Evidence()
    items = [i for i in (torch, tf, system, Value(name="env", data=env or {})) if i is not None]
    ev.add(items)
    for name in ("torch_worker", "tf_worker", "nvml", "nvidia_smi", "env"):
        ev.collectors[name] = CollectorStatus(name=name, ok=True, duration_s=0.1)
    return ev


def findings(ev: Evidence, check_id: str, options: dict[str, Any] | None = None) -> list:
    checks = load_checks()
    return run_check(checks[check_id], Facts(ev, options or {}))


def one(ev: Evidence, check_id: str, options: dict[str, Any] | None = None):
    result = findings(ev, check_id, options)
    assert len(result) == 1, result
    return result[0]


THIS_PYTHON = sys.executable
TORCH, TF = TORCH_WORKER, TF_WORKER
