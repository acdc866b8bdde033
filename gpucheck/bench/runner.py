"""Run bench-smoke: a throughput pass, a solve pass, the numerics check and the latency probes.

- **Throughput** (the placement comparison): for every width × env-count cell, every placement trains for the
  same fixed window of environment steps (whole rollouts) after one untimed warm-up iteration, with no
  evaluation, ``repeats`` times. The repeats are interleaved: repeat 1 of every cell and placement, then
  repeat 2 with the placements in rotated order, and so on, so drifting machine load hits all alike.
- **Solve** (a separate pass/fail): per width, at the first env count, every placement trains with evaluation
  until the deterministic policy's mean return reaches 475 or the ``--steps`` budget runs out.

Each run goes through :meth:`gpucheck.outcome.Outcome.from_call`, so a placement that breaks (CUDA out of
memory, a driver fault) becomes an ``error`` with its message instead of ending the run; placements that
cannot start are ``skipped`` with the reason from :func:`~gpucheck.bench.placement.plan_placements`.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import gymnasium as gym
import torch

from gpucheck.bench.latency import LatencyProbes, probe_latency
from gpucheck.bench.latency import skipped as latency_skipped
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
    explicit: bool = False
    """The user named the placements (``--placements``): each one must run, or the run fails."""
    hidden: tuple[int, ...] = (64,)
    """Hidden-layer widths to sweep."""
    envs: tuple[int, ...] = (8,)
    """Environment counts to sweep (the solve pass uses the first)."""
    repeats: int = 3
    """Timed throughput repeats per placement and cell."""
    window: int = 8_192
    """Timed environment steps per throughput repeat (rounded up to whole rollouts)."""
    device: str = "cuda"
    """The accelerator for the device placements."""
    framework: str = "torch"
    """The deep-learning framework (only ``torch``)."""
    latency: bool = True
    """Run the latency probes when a device placement can run."""
    config: PPOConfig = PPOConfig()
    """Training hyperparameters; ``hidden`` and ``num_envs`` are set per cell, ``total_timesteps`` is the
    solve pass's budget."""


@dataclass(frozen=True, slots=True)
class ThroughputRuns:
    """One placement's repeats in one cell."""

    placement: str
    hidden: int
    num_envs: int
    status: str
    """``ok``, ``skipped`` (could not start) or ``error`` (broke; ``runs`` holds the repeats before that)."""
    rollout_device: str | None = None
    update_device: str | None = None
    reason: str | None = None
    runs: tuple[TrainResult, ...] = ()

    @property
    def steps_per_s(self) -> list[float]:
        """Each repeat's env steps per second, in run order."""
        return [r.steps_per_s for r in self.runs]

    @property
    def median(self) -> float | None:
        """Median steps/s over the repeats."""
        return statistics.median(self.steps_per_s) if self.runs else None

    @property
    def low(self) -> float | None:
        """Slowest repeat."""
        return min(self.steps_per_s) if self.runs else None

    @property
    def high(self) -> float | None:
        """Fastest repeat."""
        return max(self.steps_per_s) if self.runs else None

    @property
    def typical(self) -> TrainResult | None:
        """The repeat closest to the median (its time split stands for the placement)."""
        if not self.runs:
            return None
        median = self.median
        return min(self.runs, key=lambda r: abs(r.steps_per_s - median))


@dataclass(frozen=True, slots=True)
class Cell:
    """One width × env-count point of the sweep."""

    hidden: int
    num_envs: int
    window_steps: int
    """The timed steps of every repeat here (equal for every placement and width at this env count)."""
    placements: tuple[ThroughputRuns, ...]


@dataclass(frozen=True, slots=True)
class SolveRun:
    """One placement's solve attempt at one width."""

    placement: str
    hidden: int
    num_envs: int
    status: str
    rollout_device: str | None = None
    update_device: str | None = None
    reason: str | None = None
    train: TrainResult | None = None

    @property
    def solved(self) -> bool:
        """Trained and reached the solved threshold."""
        return self.train is not None and self.train.solved


@dataclass(frozen=True, slots=True)
class BenchReport:
    """Everything bench-smoke measured."""

    options: BenchOptions
    cells: tuple[Cell, ...]
    solves: tuple[SolveRun, ...]
    numerics: NumericsCheck
    latency: LatencyProbes
    environment: dict[str, str | int | bool | None]
    wall_s: float
    skipped: tuple[Skipped, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Progress:
    """What is running now (for the progress display)."""

    stage: str
    """``throughput``, ``solve``, ``numerics`` or ``latency``."""
    placement: str = ""
    hidden: int = 0
    num_envs: int = 0
    repeat: int = 0
    run_index: int = 0
    """Training runs finished before this one, of ``run_total``."""
    run_total: int = 0
    done: int = 0
    """Env steps done in the current run, of ``total``."""
    total: int = 0
    latest: EvalPoint | None = None
    finished: TrainResult | None = None
    """Set once, when the run ends."""


ProgressFn = Callable[[Progress], None]


class UnsupportedFramework(ValueError):
    """``--framework`` names something bench-smoke cannot train with yet."""


class NothingToRun(RuntimeError):
    """None of the requested placements can run on this host (the message says why)."""


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


def window_steps(window: int, config: PPOConfig) -> int:
    """``window`` rounded up to whole rollouts (at least one)."""
    return max(1, math.ceil(window / config.batch_size)) * config.batch_size


def run_bench(options: BenchOptions, on_progress: ProgressFn | None = None) -> BenchReport:
    """Both passes over every requested placement, then the numerics check and the latency probes."""
    if options.framework not in FRAMEWORKS:
        raise UnsupportedFramework(
            f"--framework {options.framework!r} is not supported yet; "
            f"bench-smoke trains with: {', '.join(FRAMEWORKS)}"
        )
    started = time.perf_counter()
    planned = plan_placements(list(options.placements), options.device)
    runnable = [p for p in planned if isinstance(p, Placement)]
    skipped = tuple(p for p in planned if isinstance(p, Skipped))
    if not runnable:
        reasons = "; ".join(dict.fromkeys(s.reason for s in skipped))
        raise NothingToRun(
            f"none of the requested placements ({', '.join(options.placements)}) can run here: {reasons}"
        )
    notify = on_progress or (lambda _event: None)
    cells = [(h, e) for h in options.hidden for e in options.envs]
    run_total = options.repeats * len(cells) * len(runnable) + len(options.hidden) * len(runnable)
    counter = [0]

    def run(stage: str, placement: Placement, config: PPOConfig, repeat: int, warmup: int) -> Outcome:
        def progress(done: int, total: int, latest: EvalPoint | None) -> None:
            notify(
                Progress(
                    stage, placement.name, config.hidden, config.num_envs, repeat, counter[0], run_total,
                    done, total, latest,
                )
            )  # fmt: skip

        outcome = Outcome.from_call(lambda: train(config, placement, progress, warmup_iterations=warmup))
        counter[0] += 1
        notify(
            Progress(
                stage, placement.name, config.hidden, config.num_envs, repeat, counter[0], run_total,
                finished=outcome.value,
            )
        )  # fmt: skip
        return outcome

    # Throughput pass: repeats outermost, placements rotated per repeat
    results: dict[tuple[int, int, str], list[TrainResult]] = {}
    errors: dict[tuple[int, int, str], str] = {}
    for repeat in range(options.repeats):
        for hidden, num_envs in cells:
            config = _throughput_config(options, hidden, num_envs)
            shift = repeat % len(runnable)
            for placement in runnable[shift:] + runnable[:shift]:
                key = (hidden, num_envs, placement.name)
                if key in errors:
                    continue
                outcome = run("throughput", placement, config, repeat, warmup=1)
                if outcome.ok:
                    results.setdefault(key, []).append(outcome.value)
                else:
                    errors[key] = outcome.error
    built_cells = tuple(
        Cell(
            hidden,
            num_envs,
            _throughput_config(options, hidden, num_envs).total_timesteps,
            tuple(_cell_entry(item, hidden, num_envs, results, errors) for item in planned),
        )
        for hidden, num_envs in cells
    )

    # Solve pass
    solves = []
    for hidden in options.hidden:
        config = replace(options.config, hidden=hidden, num_envs=options.envs[0], evaluate=True)
        for item in planned:
            if isinstance(item, Skipped):
                solves.append(SolveRun(item.name, hidden, config.num_envs, "skipped", reason=item.reason))
                continue
            outcome = run("solve", item, config, 0, warmup=0)
            solves.append(
                SolveRun(
                    item.name, hidden, config.num_envs, "ok" if outcome.ok else "error",
                    item.rollout_device, item.update_device, outcome.error, outcome.value,
                )
            )  # fmt: skip

    accelerated = [p for p in runnable if p.uses_accelerator]
    numerics, latency = (
        _numerics(options, accelerated, skipped, notify),
        _latency(options, accelerated, skipped, notify),
    )
    return BenchReport(
        options,
        built_cells,
        tuple(solves),
        numerics,
        latency,
        describe_environment(options.device),
        time.perf_counter() - started,
        skipped,
    )


def _throughput_config(options: BenchOptions, hidden: int, num_envs: int) -> PPOConfig:
    base = replace(options.config, hidden=hidden, num_envs=num_envs, evaluate=False, early_stop=False)
    return replace(base, total_timesteps=window_steps(options.window, base))


def _cell_entry(
    item: Placement | Skipped,
    hidden: int,
    num_envs: int,
    results: dict[tuple[int, int, str], list[TrainResult]],
    errors: dict[tuple[int, int, str], str],
) -> ThroughputRuns:
    if isinstance(item, Skipped):
        return ThroughputRuns(item.name, hidden, num_envs, "skipped", reason=item.reason)
    key = (hidden, num_envs, item.name)
    return ThroughputRuns(
        item.name,
        hidden,
        num_envs,
        "error" if key in errors else "ok",
        item.rollout_device,
        item.update_device,
        errors.get(key),
        tuple(results.get(key, ())),
    )


def _no_device_reason(skipped: tuple[Skipped, ...]) -> str:
    device_skips = [s for s in skipped if s.name != "cpu"]
    return device_skips[0].reason if device_skips else "no device placement was requested"


def _numerics(
    options: BenchOptions, accelerated: list[Placement], skipped: tuple[Skipped, ...], notify: ProgressFn
) -> NumericsCheck:
    if not accelerated:
        return NumericsCheck("skip", reason=_no_device_reason(skipped))
    notify(Progress("numerics"))
    device = accelerated[0].update_device
    config = replace(options.config, hidden=options.hidden[0], num_envs=options.envs[0])
    outcome = Outcome.from_call(lambda: compare_first_update(config, device))
    return outcome.value if outcome.ok else NumericsCheck("error", device=device, reason=outcome.error)


def _latency(
    options: BenchOptions, accelerated: list[Placement], skipped: tuple[Skipped, ...], notify: ProgressFn
) -> LatencyProbes:
    if not options.latency:
        return latency_skipped("--no-latency")
    if not accelerated:
        return latency_skipped(_no_device_reason(skipped))
    notify(Progress("latency"))
    device = accelerated[0].update_device
    outcome = Outcome.from_call(lambda: probe_latency(device, options.envs, options.config.num_steps))
    return outcome.value if outcome.ok else LatencyProbes("error", device=device, reason=outcome.error)
