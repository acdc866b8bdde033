"""Phase timers and peak-memory probes for bench-smoke.

Every training second is attributed to one phase: ``env`` (stepping the vector env), ``inference`` (the
policy's forward pass and sampling during rollouts), ``transfer`` (host↔device copies and the ``split``
weight sync), ``update`` (GAE and the gradient steps), ``eval`` (deterministic evaluation) and ``other``
(Python bookkeeping: the rest of the wall time).
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import torch

PHASES = ("env", "inference", "transfer", "update", "eval")
"""Timed phases; ``other`` is derived as the wall time they do not cover."""


class _Phase:
    """A reusable context manager adding its elapsed time to one phase (cheaper than a generator one)."""

    __slots__ = ("_name", "_timer", "_t0")

    def __init__(self, timer: PhaseTimer, name: str) -> None:
        self._timer, self._name, self._t0 = timer, name, 0.0

    def __enter__(self) -> None:
        self._t0 = time.perf_counter()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._timer.sync is not None:
            # NOTE: GPU work is asynchronous; without this wait its time lands in the phase that syncs next.
            self._timer.sync()
        self._timer.seconds[self._name] += time.perf_counter() - self._t0


class PhaseTimer:
    """Accumulates seconds per phase; ``sync`` (if any) waits for the device at the end of each phase."""

    def __init__(self, sync: Callable[[], None] | None = None) -> None:
        """Start with every phase at zero."""
        self.sync = sync
        self.seconds = dict.fromkeys(PHASES, 0.0)
        self._phases = {name: _Phase(self, name) for name in PHASES}

    def reset(self) -> None:
        """Zero every phase (the timed window starts after the warm-up)."""
        for name in self.seconds:
            self.seconds[name] = 0.0

    def phase(self, name: str) -> _Phase:
        """A context manager timing one stretch of ``name``."""
        return self._phases[name]

    def totals(self, wall_s: float) -> dict[str, float]:
        """Seconds per phase plus ``other`` (the remainder of ``wall_s``, never negative)."""
        totals = dict(self.seconds)
        totals["other"] = max(0.0, wall_s - sum(totals.values()))
        return totals


_PROC_SELF = Path("/proc/self")


class PeakMemory:
    """Peak host RSS and peak device memory from construction until read."""

    def __init__(self, device: torch.device | None = None) -> None:
        """Reset the kernel's and the allocator's high-water marks where that is possible."""
        self.device = device
        # NOTE: writing 5 to clear_refs resets VmHWM (Linux ≥ 4.0), so each placement gets its own host peak;
        # elsewhere the process-wide ru_maxrss is reported instead.
        self._host_reset = _write(_PROC_SELF / "clear_refs", "5")
        if device is not None and device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)

    def host_mib(self) -> float | None:
        """Peak resident set size in MiB."""
        if self._host_reset:
            for line in _read(_PROC_SELF / "status").splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # NOTE: ru_maxrss is KiB on Linux and bytes on macOS.
        return maxrss / (1024 * 1024) if sys.platform == "darwin" else maxrss / 1024

    def device_mib(self) -> float | None:
        """Peak memory allocated by torch on the device in MiB, or None for the CPU."""
        if self.device is None or self.device.type != "cuda":
            return None
        return torch.cuda.max_memory_allocated(self.device) / (1024 * 1024)


def _write(path: Path, text: str) -> bool:
    try:
        path.write_text(text)
    except OSError:
        return False
    return True


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
