"""Factories for bench reports: recommendation and rendering logic is tested on chosen figures."""

from __future__ import annotations

import pytest

from gpucheck.bench.numerics import NumericsCheck
from gpucheck.bench.ppo import EvalPoint, PPOConfig, TrainResult
from gpucheck.bench.runner import BenchOptions, BenchReport, PlacementResult


def make_train(
    steps_per_s: float,
    *,
    solved: bool = True,
    env_steps: int = 20480,
    eval_s: float = 0.5,
    device_mib: float | None = None,
) -> TrainResult:
    """A TrainResult whose env steps/s (evaluation excluded) is ``steps_per_s``."""
    busy = env_steps / steps_per_s
    wall = busy + eval_s
    phases = {
        "env": 0.1 * busy,
        "inference": 0.2 * busy,
        "transfer": 0.05 * busy,
        "update": 0.6 * busy,
        "eval": eval_s,
        "other": 0.05 * busy,
    }
    final = 500.0 if solved else 200.0
    curve = (EvalPoint(env_steps // 2, wall / 2, 150.0), EvalPoint(env_steps, wall, final))
    return TrainResult(
        env_steps=env_steps,
        wall_s=wall,
        phases=phases,
        curve=curve,
        eval_returns=(final,) * 10,
        solved_at=curve[-1] if solved else None,
        first_update_loss=12.5,
        train_episode_returns=(20.0, 40.0),
        peak_host_mib=300.0,
        peak_device_mib=device_mib,
    )


def ok(placement: str, sps: float, hidden: int = 64, **kw) -> PlacementResult:
    devices = {"cpu": ("cpu", "cpu"), "gpu": ("cuda", "cuda"), "split": ("cpu", "cuda")}[placement]
    return PlacementResult(placement, hidden, "ok", *devices, train=make_train(sps, **kw))


def skipped(
    placement: str, hidden: int = 64, reason: str = "torch 2.13.0+cpu is a CPU-only build"
) -> PlacementResult:
    return PlacementResult(placement, hidden, "skipped", reason=reason)


def make_report(
    *results: PlacementResult, numerics: NumericsCheck | None = None, hidden: tuple[int, ...] = (64,)
) -> BenchReport:
    options = BenchOptions(hidden=hidden, config=PPOConfig(total_timesteps=50_000))
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
    return BenchReport(
        options, tuple(results), numerics or NumericsCheck("skip", reason="no GPU"), environment, 9.0
    )


@pytest.fixture
def bench_schema() -> dict:
    import json
    from importlib.resources import files

    return json.loads(files("gpucheck.schemas").joinpath("bench.schema.json").read_text())
