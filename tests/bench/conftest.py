"""Factories for bench reports: verdict, failure and rendering logic is tested on chosen figures."""

from __future__ import annotations

import pytest

from gpucheck.bench.latency import LatencyProbes
from gpucheck.bench.latency import skipped as latency_skipped
from gpucheck.bench.numerics import NumericsCheck
from gpucheck.bench.placement import Skipped
from gpucheck.bench.ppo import EvalPoint, OptimizerInfo, PPOConfig, TrainResult
from gpucheck.bench.runner import BenchOptions, BenchReport, Cell, SolveRun, ThroughputRuns

DEVICES = {
    "cpu": ("cpu", "cpu"),
    "gpu": ("cuda", "cuda"),
    "split": ("cpu", "cuda"),
    "gpu-env": ("cuda", "cuda"),
}
CPU_ONLY_REASON = "torch 2.13.0+cpu is a CPU-only build"


def make_train(
    steps_per_s: float,
    *,
    solved: bool = True,
    env_steps: int = 16384,
    eval_s: float = 0.0,
    shares: dict[str, float] | None = None,
    device_mib: float | None = None,
) -> TrainResult:
    """A TrainResult whose env steps/s (evaluation excluded) is ``steps_per_s``."""
    busy = env_steps / steps_per_s
    shares = shares or {"env": 0.1, "inference": 0.2, "transfer": 0.05, "update": 0.6, "other": 0.05}
    phases = {k: v * busy for k, v in shares.items()} | {"eval": eval_s}
    wall = busy + eval_s
    final = 500.0 if solved else 200.0
    curve = (
        EvalPoint(env_steps // 2, wall / 2, busy / 2, 150.0),
        EvalPoint(env_steps, wall, busy, final),
    )
    return TrainResult(
        env_steps=env_steps,
        wall_s=wall,
        phases=phases,
        curve=curve if eval_s else (),
        eval_returns=(final,) * 10 if eval_s else (),
        solved_at=curve[-1] if solved and eval_s else None,
        first_update_loss=12.5,
        train_episode_returns=(20.0, 40.0),
        peak_host_mib=300.0,
        peak_device_mib=device_mib,
        optimizer=OptimizerInfo("fused", "test"),
        warmup_steps=256,
    )


def runs(placement: str, *sps: float, hidden: int = 64, num_envs: int = 8, **kw) -> ThroughputRuns:
    """A placement's throughput repeats at the given steps/s."""
    return ThroughputRuns(
        placement,
        hidden,
        num_envs,
        "ok",
        *DEVICES[placement],
        runs=tuple(make_train(s, **kw) for s in sps),
    )


def skipped_runs(placement: str, hidden: int = 64, num_envs: int = 8) -> ThroughputRuns:
    return ThroughputRuns(placement, hidden, num_envs, "skipped", reason=CPU_ONLY_REASON)


def cell(*placements: ThroughputRuns, window: int = 16384) -> Cell:
    first = placements[0]
    return Cell(first.hidden, first.num_envs, window, tuple(placements))


def solve(placement: str, solved: bool = True, hidden: int = 64, sps: float = 5000.0) -> SolveRun:
    return SolveRun(
        placement, hidden, 8, "ok", *DEVICES[placement], train=make_train(sps, solved=solved, eval_s=0.4)
    )


def make_report(
    *cells: Cell,
    solves: tuple[SolveRun, ...] | None = None,
    numerics: NumericsCheck | None = None,
    latency: LatencyProbes | None = None,
    skipped: tuple[str, ...] = (),
    explicit: bool = False,
) -> BenchReport:
    hidden = tuple(dict.fromkeys(c.hidden for c in cells))
    envs = tuple(dict.fromkeys(c.num_envs for c in cells))
    names = tuple(dict.fromkeys(r.placement for c in cells for r in c.placements))
    options = BenchOptions(
        placements=names,
        explicit=explicit,
        hidden=hidden,
        envs=envs,
        config=PPOConfig(total_timesteps=50_000),
    )
    environment = {
        "python": "3.11.7",
        "platform": "Linux",
        "cpu_count": 2,
        "torch": "2.13.0+cpu",
        "torch_cuda": None,
        "cuda_available": False,
        "device_name": None,
        "gymnasium": "1.4.0",
    }
    if solves is None:
        solves = tuple(solve(p) for p in names if p not in skipped)
    return BenchReport(
        options,
        tuple(cells),
        solves,
        numerics or NumericsCheck("skip", reason=CPU_ONLY_REASON),
        latency or latency_skipped(CPU_ONLY_REASON),
        environment,
        9.0,
        tuple(Skipped(name, CPU_ONLY_REASON) for name in skipped),
    )


@pytest.fixture
def bench_schema() -> dict:
    import json
    from importlib.resources import files

    return json.loads(files("gpucheck.schemas").joinpath("bench.schema.json").read_text())
