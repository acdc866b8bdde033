"""What a `gpucheck doctor` run costs, each selection paired with the reference it should be close to.

Usage: python benchmarks/doctor_cost.py [--reps 5] [--pairs system,torch,full] [--python PATH]

Pairs (target on the 2-core machine):
  system  `gpucheck doctor --skip torch,tensorflow,framework,container` vs `python -c pass`  (<= 0.25 s)
  torch   `gpucheck doctor --only torch` vs `python -m torch.utils.collect_env`             (<= 1.1x)
  full    `gpucheck doctor` vs `python -c 'import tensorflow'`                              (<= 1.05x)
Every command is a fresh process, so times include interpreter start-up and imports, as a user sees them.
Rounds are interleaved (each round runs every command once, in a rotating order), so a change in machine
load hits both sides of a pair alike; one warm-up round is not counted. Printed per command: median wall
time, min-max, median CPU time (user+sys of the process and its children) and exit codes; per pair: the median
of the per-round ratios with its range, against the target. The load average is printed before and after:
other work on the machine changes every figure.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

SKIP_FRAMEWORKS = "torch,tensorflow,framework,container"


def pairs(python: str) -> dict[str, tuple[tuple[str, list[str]], tuple[str, list[str]], str, float]]:
    """Pair name → (gpucheck command, reference command, kind of target, target)."""
    doctor = [sys.executable, "-m", "gpucheck", "doctor"]
    probe = [] if python == sys.executable else ["--python", python]
    return {
        "system": (
            (f"doctor --skip {SKIP_FRAMEWORKS}", [*doctor, "--skip", SKIP_FRAMEWORKS]),
            ("python -c pass", [sys.executable, "-c", "pass"]),
            "seconds",
            0.25,
        ),
        "torch": (
            ("doctor --only torch", [*doctor, "--only", "torch", *probe]),
            ("python -m torch.utils.collect_env", [python, "-m", "torch.utils.collect_env"]),
            "ratio",
            1.1,
        ),
        "full": (
            ("doctor", [*doctor, *probe]),
            ("python -c 'import tensorflow'", [python, "-c", "import tensorflow"]),
            "ratio",
            1.05,
        ),
    }


def timed(argv: list[str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (the process and everything it started) and the exit code of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.returncode


def main() -> None:
    """Run the rounds and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="counted rounds (after one warm-up round)")
    parser.add_argument("--pairs", default="system,torch,full", help="which pairs to run")
    parser.add_argument("--python", default=sys.executable, help="interpreter with torch and tensorflow")
    args = parser.parse_args()
    chosen = {name: p for name, p in pairs(args.python).items() if name in args.pairs.split(",")}
    commands = {label: argv for gc, ref, _, _ in chosen.values() for label, argv in (gc, ref)}
    wall: dict[str, list[float]] = {label: [] for label in commands}
    cpu: dict[str, list[float]] = {label: [] for label in commands}
    codes: dict[str, set[int]] = {label: set() for label in commands}
    print(f"cores: {os.cpu_count()}  load average before: {os.getloadavg()}  rounds: {args.reps} + 1 warm-up")
    order = list(commands)
    for rnd in range(args.reps + 1):
        shift = rnd % len(order)
        for label in order[shift:] + order[:shift]:
            seconds, cpu_s, code = timed(commands[label])
            if rnd:
                wall[label].append(seconds)
                cpu[label].append(cpu_s)
                codes[label].add(code)
    print(f"load average after: {os.getloadavg()}\n")
    print(f"{'command':<50} {'median s':>9} {'min-max s':>13} {'cpu s':>7}  exit")
    for label in commands:
        spread = f"{min(wall[label]):.2f}-{max(wall[label]):.2f}"
        print(
            f"{label:<50} {statistics.median(wall[label]):>9.2f} {spread:>13} "
            f"{statistics.median(cpu[label]):>7.2f}  {sorted(codes[label])}"
        )
    print()
    for name, ((gc, _), (ref, _), kind, target) in chosen.items():
        if kind == "seconds":
            value = statistics.median(wall[gc])
            lo, hi = min(wall[gc]), max(wall[gc])
            shown = f"{value:.2f} s (range {lo:.2f}-{hi:.2f}; {ref}: {statistics.median(wall[ref]):.2f} s)"
            met = value <= target
            goal = f"<= {target} s"
        else:
            ratios = [a / b for a, b in zip(wall[gc], wall[ref], strict=True)]
            value = statistics.median(ratios)
            shown = f"{value:.2f}x (per-round range {min(ratios):.2f}-{max(ratios):.2f}x)"
            met = value <= target
            goal = f"<= {target}x {ref}"
        print(f"{name:<7} {shown}: {'meets' if met else 'MISSES'} the target {goal}")


if __name__ == "__main__":
    main()
