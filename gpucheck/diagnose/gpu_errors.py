"""Per-GPU failures: one GPU whose handle cannot be had, alongside the GPUs that answer.

NVML's ``nvmlDeviceGetHandleByIndex`` fails for that index only (``Unknown Error``, ``GPU is lost``,
``Insufficient Permissions``); nvidia-smi prints ``Unable to determine the device handle for GPU0000:0B:00.0:
Unknown Error`` for it and still lists the others. Either way it is that GPU's problem, not "no GPU".
Sources: https://github.com/NVIDIA/open-gpu-kernel-modules/issues/387 (one of four RTX 2080 Ti),
https://github.com/meta-llama/llama-models/issues/200 (one of four A30).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gpucheck.collect.evidence import CommandRun, Evidence

_HANDLE = re.compile(
    r"Unable to (?:determine|detect) the device handle for (?:GPU ?)?([0-9A-Fa-f:.]{7,20}): ?([^\n]*)"
)
"""nvidia-smi's per-GPU failure line (Linux says ``determine``, Windows ``detect``); linear-time."""


@dataclass(frozen=True, slots=True)
class GpuError:
    """A GPU the driver lists but cannot talk to."""

    index: int | None
    """NVML index, when NVML said it; None from nvidia-smi, which names the bus id."""
    bus_id: str
    error: str
    source: str
    """``nvml`` or ``nvidia-smi``."""

    @property
    def label(self) -> str:
        """``GPU 1`` or ``GPU 0000:0B:00.0``."""
        return f"GPU {self.index}" if self.index is not None else f"GPU {self.bus_id}"


def strip_handle_errors(text: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The text without nvidia-smi's per-GPU failure lines, and those failures as (bus id, error)."""
    found = tuple((m.group(1), m.group(2).strip()) for m in _HANDLE.finditer(text))
    if not found:
        return text, ()
    kept = "\n".join(line for line in text.splitlines() if not _HANDLE.search(line))
    return kept, found


def gpu_errors(evidence: Evidence) -> tuple[GpuError, ...]:
    """Every per-GPU handle failure NVML or nvidia-smi reported."""
    item = evidence.value("nvml")
    if item is not None and item.error is None and isinstance(item.data, dict):
        gpus = item.data.get("gpus")
        found = [
            GpuError(
                g.get("index") if isinstance(g.get("index"), int) else None,
                "",
                str(g["handle_error"]),
                "nvml",
            )
            for g in (gpus if isinstance(gpus, list) else [])
            if isinstance(g, dict) and g.get("handle_error")
        ]
        if found or isinstance(gpus, list):
            return tuple(found)
    seen: dict[str, GpuError] = {}
    for run in evidence.with_prefix("cmd:nvidia-smi"):
        if isinstance(run, CommandRun):
            for bus_id, error in strip_handle_errors(run.stdout + "\n" + run.stderr)[1]:
                seen.setdefault(bus_id, GpuError(None, bus_id, error, "nvidia-smi"))
    return tuple(seen.values())
