"""bench-smoke's standard-PyTorch `cpu` PPO against Stable-Baselines3 PPO, interleaved in one process.

Usage:
    python benchmarks/bench_smoke_vs_sb3.py [--seeds 6] [--throughput-steps 50000] [--eval-every 4096]
        [--cli-runs 2] [--json FILE]

Needs ``pip install 'gpucheck[bench-compare]'`` (stable-baselines3).

Both use rl-zoo's CartPole-v1 PPO hyperparameters: 8 envs, n_steps 32, batch 256, 20 epochs, gamma 0.98,
gae_lambda 0.8, lr 1e-3 and clip 0.2 decayed linearly to 0, no entropy bonus, vf_coef 0.5, max_grad_norm
0.5, Adam eps 1e-5, [64, 64] tanh actor and critic, orthogonal init, one torch thread each. bench-smoke's
side is what every placement trains with: ``nn.Linear`` towers, ``Categorical``, autograd and
``torch.optim.Adam`` (fused on the CPU).

- throughput: each learns ``--throughput-steps`` steps with no evaluation; env steps/s = steps / seconds in
  ``learn()`` / ``train()`` (bench-smoke's one-iteration warm-up is excluded, as in its own throughput pass).
- solve: each evaluates the deterministic policy on 10 episodes every ``--eval-every`` steps and stops at a
  mean >= 475, capped at 100k steps; time to solve is reported with and without the evaluations' time.
- default run: ``gpucheck bench-smoke`` with no options, ``--cli-runs`` times, process wall time.

Every seed runs both sides back to back, rotating who goes first, so drifting machine load hits both alike.
Targets (issue 12): throughput >= 2x SB3's; median time to solve excluding evaluation <= 0.5x SB3's;
default run < 60 s. Prints PASS/MISSED per target; exit status 0 when all are met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import gymnasium as gym
import numpy as np
import stable_baselines3
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor

from gpucheck.bench.placement import make_placement
from gpucheck.bench.ppo import SOLVED_RETURN, PPOConfig, train

CAP = 100_000


def sb3_model(seed: int) -> PPO:
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
    """Evaluate every ``every`` env steps; stop at a mean >= 475; keep the evaluations' time apart."""

    def __init__(self, every: int, seed: int) -> None:
        super().__init__()
        self.every, self.next_eval, self.seed = every, every, seed
        self.solved_at: tuple[int, float, float] | None = None
        self.start = time.perf_counter()
        self.eval_s = 0.0
        self.eval_env = Monitor(gym.make("CartPole-v1"))

    def _on_step(self) -> bool:
        if self.num_timesteps < self.next_eval:
            return True
        self.next_eval += self.every
        t0 = time.perf_counter()
        self.eval_env.reset(seed=self.seed + 10_000)
        mean, _ = evaluate_policy(self.model, self.eval_env, n_eval_episodes=10, deterministic=True)
        self.eval_s += time.perf_counter() - t0
        if mean >= SOLVED_RETURN:
            wall = time.perf_counter() - self.start
            self.solved_at = (self.num_timesteps, wall, wall - self.eval_s)
            return False
        return True


def sb3_throughput(seed: int, steps: int) -> float:
    model = sb3_model(seed)
    t0 = time.perf_counter()
    model.learn(steps)
    return model.num_timesteps / (time.perf_counter() - t0)


def sb3_solve(seed: int, every: int) -> dict:
    model = sb3_model(seed)
    callback = SolveCallback(every, seed)
    callback.start = time.perf_counter()
    model.learn(CAP, callback=callback)
    solved = callback.solved_at
    wall = time.perf_counter() - callback.start
    return {
        "solved": solved is not None,
        "steps": solved[0] if solved else model.num_timesteps,
        "wall_s": solved[1] if solved else wall,
        "train_s": solved[2] if solved else wall - callback.eval_s,
    }


def ours_throughput(seed: int, steps: int) -> float:
    config = PPOConfig(seed=seed, total_timesteps=steps, evaluate=False, early_stop=False)
    return train(config, make_placement("cpu", "cpu"), warmup_iterations=1).steps_per_s


def ours_solve(seed: int, every: int) -> dict:
    result = train(PPOConfig(seed=seed, total_timesteps=CAP, eval_every=every), make_placement("cpu", "cpu"))
    point = result.solved_at
    return {
        "solved": point is not None,
        "steps": point.env_steps if point else result.env_steps,
        "wall_s": point.wall_s if point else result.wall_s,
        "train_s": point.train_s if point else result.wall_s - result.phases["eval"],
    }


def interleaved(seeds: range, runners: dict) -> dict[str, list]:
    """Run every runner once per seed, rotating who goes first."""
    results: dict[str, list] = {name: [] for name in runners}
    names = list(runners)
    for seed in seeds:
        shift = seed % len(names)
        for name in names[shift:] + names[:shift]:
            value = runners[name](seed)
            results[name].append(value)
            print(f"  seed {seed} {name:5}: {value}", flush=True)
    return results


def spread(values: list[float], fmt: str = ",.0f") -> str:
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}–{max(values):{fmt}})"


def loadavg() -> str:
    try:
        return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "n/a"


def cli_runs(count: int) -> list[float]:
    walls = []
    for i in range(count):
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "gpucheck", "bench-smoke", "--json"], capture_output=True, text=True
        )
        walls.append(time.perf_counter() - t0)
        doc = json.loads(proc.stdout)
        print(f"  gpucheck bench-smoke run {i + 1}: {walls[-1]:.1f} s, exit {proc.returncode}", flush=True)
        for problem in doc["problems"]:
            print(f"    problem: {problem}", flush=True)
    return walls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--throughput-steps", type=int, default=50_000)
    parser.add_argument("--eval-every", type=int, default=4096)
    parser.add_argument("--cli-runs", type=int, default=2)
    parser.add_argument("--json", help="write the raw figures here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    print(
        f"torch {torch.__version__} (1 thread), gymnasium {gym.__version__}, "
        f"SB3 {stable_baselines3.__version__}, "
        f"numpy {np.__version__}, python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average at start {loadavg()}",
        flush=True,
    )
    print(f"throughput: {args.throughput_steps:,} steps x {args.seeds} seeds, interleaved", flush=True)
    sps = interleaved(
        range(args.seeds),
        {
            "sb3": lambda s: round(sb3_throughput(s, args.throughput_steps)),
            "ours": lambda s: round(ours_throughput(s, args.throughput_steps)),
        },
    )
    print(f"solve: eval every {args.eval_every} steps, cap {CAP:,}, {args.seeds} seeds", flush=True)
    solve = interleaved(
        range(args.seeds),
        {"sb3": lambda s: sb3_solve(s, args.eval_every), "ours": lambda s: ours_solve(s, args.eval_every)},
    )
    print(f"default run: gpucheck bench-smoke x {args.cli_runs}", flush=True)
    walls = cli_runs(args.cli_runs)
    load_end = loadavg()

    def solved(runs: list[dict], key: str) -> list[float]:
        return [r[key] for r in runs if r["solved"]] or [float("inf")]

    ratio = statistics.median(sps["ours"]) / statistics.median(sps["sb3"])
    sb3_train, ours_train = (
        statistics.median(solved(solve["sb3"], "train_s")),
        statistics.median(solved(solve["ours"], "train_s")),
    )
    sb3_wall, ours_wall = (
        statistics.median(solved(solve["sb3"], "wall_s")),
        statistics.median(solved(solve["ours"], "wall_s")),
    )
    checks = {
        "throughput >= 2x SB3": ratio >= 2.0,
        "median time to solve excl. evaluation <= 0.5x SB3": ours_train <= 0.5 * sb3_train,
        "default `gpucheck bench-smoke` < 60 s (every run)": bool(walls) and max(walls) < 60,
    }
    n = args.seeds
    sb3 = f"SB3 {stable_baselines3.__version__} PPO"
    print(f"\n| median (min–max) over {n} seeds | {sb3} | bench-smoke `cpu` | ratio |")
    print("| --- | --- | --- | --- |")
    print(
        f"| env steps/s, {args.throughput_steps:,} steps | {spread(sps['sb3'])} | {spread(sps['ours'])} "
        f"| {ratio:.2f}x |"
    )
    print(
        f"| s to eval mean >= 475, excl. eval (solved seeds) "
        f"| {spread(solved(solve['sb3'], 'train_s'), '.1f')} "
        f"| {spread(solved(solve['ours'], 'train_s'), '.1f')} | {ours_train / sb3_train:.2f}x |"
    )
    print(
        f"| same, incl. eval | {spread(solved(solve['sb3'], 'wall_s'), '.1f')} "
        f"| {spread(solved(solve['ours'], 'wall_s'), '.1f')} | {ours_wall / sb3_wall:.2f}x |"
    )
    print(
        f"| env steps to solve | {spread([r['steps'] for r in solve['sb3']])} "
        f"| {spread([r['steps'] for r in solve['ours']])} | |"
    )
    print(
        f"| seeds solved (cap {CAP:,}) | {sum(r['solved'] for r in solve['sb3'])}/{n} "
        f"| {sum(r['solved'] for r in solve['ours'])}/{n} | |"
    )
    if walls:
        print(f"| `gpucheck bench-smoke` default run, process wall s | | {spread(walls, '.1f')} | |")
    print(f"\nload average at end {load_end}; total {time.perf_counter() - started:.0f} s\n")
    for name, ok in checks.items():
        print(f"{'PASS  ' if ok else 'MISSED'}  {name}")
    if args.json:
        with open(args.json, "w") as fh:
            raw = {"sps": sps, "solve": solve, "cli_walls": walls, "checks": checks, "args": vars(args)}
            json.dump(raw, fh, indent=2)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
