"""Run bench-smoke: every requested placement at every requested width, plus the GPU numerics check.

Each training run goes through :meth:`gpucheck.outcome.Outcome.from_call`, so a placement that breaks half-way
(CUDA out of memory, a driver fault) becomes an ``error`` result with its message instead of ending the run;
placements that cannot start are ``skipped`` with the reason from
:func:`~gpucheck.bench.placement.plan_placements`.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import gymnasium as gym
import torch

from gpucheck.bench.numerics import NumericsCheck, compare_first_update
from gpucheck.bench.placement import PLACEMENT_NAMES, Placement, Skipped, plan_placements
from gpucheck.bench.ppo import EvalPoint, PPOConfig, TrainResult, train
from gpucheck.outcome import Outcome

FRAMEWORKS = ("torch",)
"""Frameworks bench-smoke can train with. Only torch so far; ``--framework`` is there so others can follow."""


@dataclass(frozen=True, slots=True)
class BenchOptions:
    """What the user asked for."""

    placements: tuple[str, ...] = PLACEMENT_NAMES
    """Placements to run, in order."""
    hidden: tuple[int, ...] = (64,)
    """Hidden-layer widths to sweep."""
    device: str = "cuda"
    """The accelerator for the ``gpu`` and ``split`` placements."""
    framework: str = "torch"
    """The deep-learning framework (only ``torch``)."""
    config: PPOConfig = PPOConfig()
    """Training hyperparameters; ``hidden`` is overridden by each width of the sweep."""


@dataclass(frozen=True, slots=True)
class PlacementResult:
    """One placement at one width."""

    placement: str
    hidden: int
    status: str
    """``ok`` (trained; see ``train.solved``), ``skipped`` (could not start) or ``error`` (broke running)."""
    rollout_device: str | None = None
    update_device: str | None = None
    reason: str | None = None
    """Why it was skipped, or the error it raised."""
    train: TrainResult | None = None

    @property
    def solved(self) -> bool:
        """Trained and reached the solved threshold."""
        return self.train is not None and self.train.solved


@dataclass(frozen=True, slots=True)
class BenchReport:
    """Everything bench-smoke measured."""

    options: BenchOptions
    results: tuple[PlacementResult, ...]
    numerics: NumericsCheck
    environment: dict[str, str | int | bool | None]
    wall_s: float


ProgressFn = Callable[[str, int, int, int, "EvalPoint | None"], None]
"""``(placement, hidden, env_steps_done, env_steps_total, latest_eval)`` after every training iteration."""


class UnsupportedFramework(ValueError):
    """``--framework`` names something bench-smoke cannot train with yet."""


def describe_environment(device: str) -> dict[str, str | int | bool | None]:
    """Versions and hardware the figures depend on."""
    cuda = torch.cuda.is_available()
    name = None
    if cuda:
        try:
            name = torch.cuda.get_device_name(torch.device(device))
        except Exception:  # noqa: BLE001 - a name is nice to have; the placements report the real problem
            name = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cuda_available": cuda,
        "device_name": name,
        "gymnasium": gym.__version__,
    }


def run_bench(options: BenchOptions, on_progress: ProgressFn | None = None) -> BenchReport:
    """Run every placement at every width, then the numerics check if a device placement could run."""
    if options.framework not in FRAMEWORKS:
        raise UnsupportedFramework(
            f"--framework {options.framework!r} is not supported yet; "
            f"bench-smoke trains with: {', '.join(FRAMEWORKS)}"
        )
    started = time.perf_counter()
    planned = plan_placements(list(options.placements), options.device)
    results = [
        _run_one(item, hidden, options.config, on_progress) for hidden in options.hidden for item in planned
    ]
    runnable = [p for p in planned if isinstance(p, Placement) and p.uses_accelerator]
    if runnable:
        config = replace(options.config, hidden=options.hidden[0])
        outcome = Outcome.from_call(lambda: compare_first_update(config, runnable[0].update_device))
        numerics = (
            outcome.value
            if outcome.value is not None
            else NumericsCheck("error", device=runnable[0].update_device, reason=outcome.error)
        )
    else:
        skipped = [p for p in planned if isinstance(p, Skipped)]
        reason = skipped[0].reason if skipped else "no gpu or split placement was requested"
        numerics = NumericsCheck("skip", reason=reason)
    return BenchReport(
        options, tuple(results), numerics, describe_environment(options.device), time.perf_counter() - started
    )


def _run_one(
    item: Placement | Skipped, hidden: int, base: PPOConfig, on_progress: ProgressFn | None
) -> PlacementResult:
    if isinstance(item, Skipped):
        return PlacementResult(item.name, hidden, "skipped", reason=item.reason)
    config = replace(base, hidden=hidden)

    def progress(done: int, total: int, latest: EvalPoint | None) -> None:
        if on_progress is not None:
            on_progress(item.name, hidden, done, total, latest)

    outcome = Outcome.from_call(lambda: train(config, item, progress))
    if not outcome.ok:
        return PlacementResult(
            item.name, hidden, "error", item.rollout_device, item.update_device, reason=outcome.error
        )
    return PlacementResult(
        item.name, hidden, "ok", item.rollout_device, item.update_device, train=outcome.value
    )
