"""Wall time of `gpucheck doctor` against `python -c 'import tensorflow'` (target: doctor <= 1.15x).

Usage: python benchmarks/doctor_vs_tf_import.py [--reps 5] [--python PATH] [--doctor-args "..."]

In one run, measures (round-robin, so drift in machine load hits every command alike):
  python -c 'import tensorflow'
  python -c 'import torch'
  python -m torch.utils.collect_env
  gpucheck doctor            (full: every layer, both framework workers)
and prints median / min / max per command and the ratio doctor / import-tensorflow against 1.15.
The load average before and after is printed, because other work on the machine changes the numbers.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import time

TARGET = 1.15


def commands(python: str, doctor_args: list[str]) -> dict[str, list[str]]:
    return {
        "import tensorflow": [python, "-c", "import tensorflow"],
        "import torch": [python, "-c", "import torch"],
        "torch.utils.collect_env": [python, "-m", "torch.utils.collect_env"],
        "gpucheck doctor": [sys.executable, "-m", "gpucheck", "doctor", *doctor_args],
    }


def timed(argv: list[str]) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--python", default=sys.executable, help="interpreter with torch and tensorflow")
    parser.add_argument("--doctor-args", default="", help="extra arguments for gpucheck doctor")
    args = parser.parse_args()
    other_python = ["--python", args.python] if args.python != sys.executable else []
    doctor_args = shlex.split(args.doctor_args) + other_python
    cmds = commands(args.python, doctor_args)
    print(f"cores: {os.cpu_count()}  load average before: {os.getloadavg()}  reps: {args.reps}")
    for argv in cmds.values():  # warm the page cache; not counted
        timed(argv)
    times: dict[str, list[float]] = {name: [] for name in cmds}
    codes: dict[str, set[int]] = {name: set() for name in cmds}
    for _ in range(args.reps):
        for name, argv in cmds.items():
            seconds, code = timed(argv)
            times[name].append(seconds)
            codes[name].add(code)
    print(f"load average after: {os.getloadavg()}\n")
    print(f"{'command':<26} {'median s':>9} {'min s':>7} {'max s':>7}  exit codes")
    for name, values in times.items():
        print(f"{name:<26} {statistics.median(values):>9.2f} {min(values):>7.2f} {max(values):>7.2f}  "
              f"{sorted(codes[name])}")
    ratio = statistics.median(times["gpucheck doctor"]) / statistics.median(times["import tensorflow"])
    verdict = "meets" if ratio <= TARGET else "MISSES"
    print(f"\ndoctor / import tensorflow = {ratio:.2f}x ({verdict} the target <= {TARGET}x)")


if __name__ == "__main__":
    main()
