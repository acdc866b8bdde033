"""bench-smoke's `cpu` PPO against Stable-Baselines3 PPO, side by side in one process, equal hyperparameters.

Usage:
    python benchmarks/bench_smoke_vs_sb3.py [--solve-seeds 10] [--throughput-seeds 3]
        [--throughput-steps 100000] [--eval-every 4096] [--json FILE]

Both use rl-zoo's CartPole-v1 PPO hyperparameters: 8 envs, n_steps 32, batch 256, 20 epochs, gamma 0.98,
gae_lambda 0.8, lr 1e-3 and clip 0.2 decayed linearly to 0 over 100k steps, no entropy bonus, vf_coef 0.5,
max_grad_norm 0.5, Adam eps 1e-5, [64, 64] tanh actor and critic, orthogonal init.

- throughput: each learns ``--throughput-steps`` steps with no evaluation callback; env steps/s = steps /
  training seconds (bench-smoke's one evaluation at the end is excluded).
- solve: each evaluates the deterministic policy on 10 episodes every ``--eval-every`` steps (the same
  cadence for both) and stops at a mean >= 475, capped at 100k steps; wall time includes the evaluations.

Runs are interleaved (rotating who goes first per seed), so machine noise and other processes' load hit
both alike. bench-smoke uses its default of 1 torch thread; SB3's throughput is taken with torch's default
thread count and with 1 thread, the ratio is against the faster of the two, and the solve runs use that one.

Targets (issue 5): throughput >= 3x SB3's; median solve wall time <= half SB3's; >= 9 of 10 seeds solve.
Exit status 0 when every target is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor

from gpucheck.bench.placement import make_placement
from gpucheck.bench.ppo import SOLVED_RETURN, PPOConfig, train

CAP = 100_000


def sb3_model(seed: int, total: int) -> PPO:
    """rl-zoo's CartPole-v1 PPO (linear schedules are relative to the ``learn()`` total)."""
    env = make_vec_env("CartPole-v1", n_envs=8, seed=seed)
    return PPO(
        "MlpPolicy",
        env,
        n_steps=32,
        batch_size=256,
        gae_lambda=0.8,
        gamma=0.98,
        n_epochs=20,
        ent_coef=0.0,
        learning_rate=lambda p: p * 1e-3,
        clip_range=lambda p: p * 0.2,
        device="cpu",
        seed=seed,
        verbose=0,
    )


class SolveCallback(BaseCallback):
    """Evaluate every ``every`` env steps; stop at a mean >= 475."""

    def __init__(self, every: int, seed: int) -> None:
        super().__init__()
        self.every, self.next_eval, self.seed = every, every, seed
        self.solved_at: tuple[int, float] | None = None
        self.start = time.perf_counter()
        self.eval_env = Monitor(gym.make("CartPole-v1"))

    def _on_step(self) -> bool:
        if self.num_timesteps < self.next_eval:
            return True
        self.next_eval += self.every
        self.eval_env.reset(seed=self.seed + 10_000)
        mean, _ = evaluate_policy(self.model, self.eval_env, n_eval_episodes=10, deterministic=True)
        if mean >= SOLVED_RETURN:
            self.solved_at = (self.num_timesteps, time.perf_counter() - self.start)
            return False
        return True


def sb3_throughput(seed: int, steps: int, threads: int) -> float:
    torch.set_num_threads(threads)
    model = sb3_model(seed, steps)
    t0 = time.perf_counter()
    model.learn(steps)
    return model.num_timesteps / (time.perf_counter() - t0)


def sb3_solve(seed: int, every: int, threads: int) -> dict:
    torch.set_num_threads(threads)
    model = sb3_model(seed, CAP)
    callback = SolveCallback(every, seed)
    t0 = time.perf_counter()
    callback.start = t0
    model.learn(CAP, callback=callback)
    wall = time.perf_counter() - t0
    solved = callback.solved_at
    return {
        "solved": solved is not None,
        "steps": solved[0] if solved else model.num_timesteps,
        "wall_s": solved[1] if solved else wall,
    }


def ours_throughput(seed: int, steps: int) -> float:
    config = PPOConfig(seed=seed, total_timesteps=steps, early_stop=False, eval_every=10 * steps)
    return train(config, make_placement("cpu", "cpu")).steps_per_s


def ours_solve(seed: int, every: int) -> dict:
    result = train(PPOConfig(seed=seed, total_timesteps=CAP, eval_every=every), make_placement("cpu", "cpu"))
    point = result.solved_at
    return {
        "solved": point is not None,
        "steps": point.env_steps if point else result.env_steps,
        "wall_s": point.wall_s if point else result.wall_s,
    }


def interleaved(seeds: range, runners: dict) -> dict[str, list]:
    """Run every runner once per seed, rotating who goes first, so drifting machine load hits all alike."""
    results: dict[str, list] = {name: [] for name in runners}
    names = list(runners)
    for seed in seeds:
        shift = seed % len(names)
        for name in names[shift:] + names[:shift]:
            value = runners[name](seed)
            results[name].append(value)
            print(f"  seed {seed} {name:12}: {value}", flush=True)
    return results


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):,.1f} ({min(values):,.1f}-{max(values):,.1f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solve-seeds", type=int, default=10)
    parser.add_argument("--throughput-seeds", type=int, default=3)
    parser.add_argument("--throughput-steps", type=int, default=100_000)
    parser.add_argument("--eval-every", type=int, default=4096)
    parser.add_argument("--json", help="write the raw figures here")
    args = parser.parse_args()

    print(
        f"torch {torch.__version__} (default threads {torch.get_num_threads()}), "
        f"gymnasium {gym.__version__}, "
        f"numpy {np.__version__}, python {platform.python_version()}, {platform.machine()}",
        flush=True,
    )
    print(f"throughput: {args.throughput_steps} steps x {args.throughput_seeds} seeds", flush=True)
    default_threads = torch.get_num_threads()
    sps = interleaved(
        range(args.throughput_seeds),
        {
            f"sb3 {default_threads} thr": lambda s: round(
                sb3_throughput(s, args.throughput_steps, default_threads)
            ),
            "sb3 1 thr": lambda s: round(sb3_throughput(s, args.throughput_steps, 1)),
            "ours": lambda s: round(ours_throughput(s, args.throughput_steps)),
        },
    )
    torch.set_num_threads(default_threads)
    ours_sps = sps.pop("ours")
    sb3_label, sb3_sps = max(sps.items(), key=lambda item: statistics.median(item[1]))
    sb3_threads = 1 if sb3_label == "sb3 1 thr" else default_threads
    print(
        f"solve: eval every {args.eval_every} steps, cap {CAP}, {args.solve_seeds} seeds, "
        f"SB3 at {sb3_threads} thread(s)",
        flush=True,
    )
    solve = interleaved(
        range(args.solve_seeds),
        {
            "sb3": lambda s: sb3_solve(s, args.eval_every, sb3_threads),
            "ours": lambda s: ours_solve(s, args.eval_every),
        },
    )
    torch.set_num_threads(default_threads)
    sb3_runs, ours_runs = solve["sb3"], solve["ours"]

    def solved_walls(runs: list[dict]) -> list[float]:
        return [r["wall_s"] for r in runs if r["solved"]] or [float("inf")]

    ratio = statistics.median(ours_sps) / statistics.median(sb3_sps)
    sb3_median, ours_median = (
        statistics.median(solved_walls(sb3_runs)),
        statistics.median(solved_walls(ours_runs)),
    )
    ours_solved = sum(r["solved"] for r in ours_runs)
    checks = {
        "throughput >= 3x SB3": ratio >= 3.0,
        "median solve wall <= 0.5x SB3": ours_median <= 0.5 * sb3_median,
        f">= {0.9 * args.solve_seeds:g} of {args.solve_seeds} seeds solve": ours_solved
        >= 0.9 * args.solve_seeds,
    }
    print("\n| | SB3 2.x PPO | bench-smoke `cpu` | ratio |\n| --- | --- | --- | --- |")
    print(
        f"| env steps/s, {args.throughput_steps:,} steps, median (min-max) of {args.throughput_seeds} "
        f"| {spread(sb3_sps)} ({sb3_label}) | {spread(ours_sps)} | {ratio:.2f}x |"
    )
    for label, values in sps.items():
        print(f"| env steps/s, {label} | {spread(values)} | | |")
    print(
        f"| wall s to eval mean >= 475, median (min-max) of solved | {spread(solved_walls(sb3_runs))} "
        f"| {spread(solved_walls(ours_runs))} | {ours_median / sb3_median:.2f}x |"
    )
    print(
        f"| env steps to solve, median | {statistics.median(r['steps'] for r in sb3_runs):,.0f} "
        f"| {statistics.median(r['steps'] for r in ours_runs):,.0f} | |"
    )
    print(
        f"| seeds solved | {sum(r['solved'] for r in sb3_runs)}/{args.solve_seeds} "
        f"| {ours_solved}/{args.solve_seeds} | |\n"
    )
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {
                    "sb3_sps": {**sps, "compared": sb3_label},
                    "ours_sps": ours_sps,
                    "sb3_solve": sb3_runs,
                    "ours_solve": ours_runs,
                    "checks": checks,
                    "args": vars(args),
                },
                fh,
                indent=2,
            )
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
