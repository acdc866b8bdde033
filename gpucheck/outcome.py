"""The one wrapper around every unit of work: collectors, checks, workers and bench placements.

``Outcome.from_call`` runs a callable, catches any ``Exception`` and records what happened, so a broken
probe becomes data instead of a traceback. ``KeyboardInterrupt`` and ``SystemExit`` pass through, as in
pytest's ``CallInfo.from_call``. ``call_with_deadline`` additionally abandons a call that does not return
in time (an NVML call on a wedged driver cannot be interrupted, only left behind in a daemon thread).
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    """What happened when one unit of work ran."""

    value: T | None
    """The return value, or None when the call raised or timed out."""
    error: str | None
    """``"ExceptionType: message"`` when the call raised, a timeout message when it timed out."""
    traceback: str | None
    """The formatted traceback of the exception, kept as evidence for ``error`` findings."""
    started: float
    """Wall-clock start (``time.time()``)."""
    duration_s: float
    """How long the call ran, or how long we waited before abandoning it."""
    timed_out: bool = False
    """True when the call was abandoned at its deadline."""

    @property
    def ok(self) -> bool:
        """True when the call returned normally."""
        return self.error is None

    @classmethod
    def from_call(cls, func: Callable[[], T]) -> Outcome[T]:
        """Run ``func`` and record its value or the exception it raised."""
        started, t0 = time.time(), time.perf_counter()
        try:
            value = func()
        except Exception as exc:  # noqa: BLE001 - the point of this wrapper
            return cls(
                value=None,
                error=f"{type(exc).__name__}: {exc}",
                traceback=traceback.format_exc(),
                started=started,
                duration_s=time.perf_counter() - t0,
            )
        return cls(
            value=value, error=None, traceback=None, started=started, duration_s=time.perf_counter() - t0
        )

    @classmethod
    def timeout(cls, started: float, waited_s: float, limit_s: float) -> Outcome[T]:
        """An outcome for a call abandoned after ``limit_s`` seconds."""
        return cls(
            value=None,
            error=f"timed out after {limit_s:g} s",
            traceback=None,
            started=started,
            duration_s=waited_s,
            timed_out=True,
        )


def run_all_with_deadlines(calls: dict[str, tuple[Callable[[], T], float]]) -> dict[str, Outcome[T]]:
    """Run every named call concurrently, each under its own deadline, and return their outcomes.

    Each call runs in a daemon thread, so a call that never returns is abandoned at its deadline and cannot
    keep the process alive at exit.
    """
    results: dict[str, Outcome[T]] = {}
    threads: dict[str, tuple[threading.Thread, float, float, float]] = {}
    lock = threading.Lock()

    def runner(name: str, func: Callable[[], T]) -> None:
        outcome = Outcome.from_call(func)
        with lock:
            results.setdefault(name, outcome)

    for name, (func, limit_s) in calls.items():
        thread = threading.Thread(target=runner, args=(name, func), name=f"gpucheck:{name}", daemon=True)
        threads[name] = (thread, time.time(), time.perf_counter(), limit_s)
        thread.start()
    for name, (thread, started, t0, limit_s) in threads.items():
        thread.join(max(0.0, limit_s - (time.perf_counter() - t0)))
        with lock:
            if name not in results:
                results[name] = Outcome.timeout(started, time.perf_counter() - t0, limit_s)
    return results
