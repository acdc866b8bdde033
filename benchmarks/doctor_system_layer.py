"""Time `gpucheck doctor` on the system layer alone and compare the median with the target (< 1 s, 2 cores).

Usage: python benchmarks/doctor_system_layer.py [--runs N] [--target-s 1.0]

Each run is a fresh `python -m gpucheck doctor --skip torch,tensorflow,framework,container --json` process, so
the wall time includes interpreter start-up and imports, as a user sees it; "doctor" is the time the pipeline
itself reports (collect + diagnose). Exit status 0 when the median wall time meets the target, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SKIP = "torch,tensorflow,framework,container"
SYSTEM_LAYERS = "driver,gpu,toolkit,compat,wsl,environ"


def selection() -> list[str]:
    """The brief's `--skip` selection, or the equivalent `--only` when a skipped layer has no checks yet."""
    probe = subprocess.run(
        [sys.executable, "-m", "gpucheck", "doctor", "--skip", SKIP, "--only", "environ.container", "--json"],
        capture_output=True,
        text=True,
    )
    return ["--skip", SKIP] if probe.returncode != 2 else ["--only", SYSTEM_LAYERS]


def one_run(args: list[str]) -> tuple[float, float, int, int]:
    """(wall seconds, doctor's own seconds, number of findings, exit code) of one doctor process."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "gpucheck", "doctor", *args, "--json"], capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    try:
        doc = json.loads(proc.stdout)
    except json.JSONDecodeError:
        sys.exit(f"doctor printed no JSON (exit {proc.returncode}): {proc.stderr.strip()[:400]}")
    duration = float(doc.get("meta", {}).get("duration_s") or 0.0)
    return wall, duration, len(doc.get("findings", [])), proc.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--target-s", type=float, default=1.0)
    opts = parser.parse_args()
    args = selection()
    one_run(args)  # NOTE: warm-up; the first run pays for cold page cache and .pyc compilation
    rows = [one_run(args) for _ in range(opts.runs)]
    print(f"gpucheck doctor {' '.join(args)}  ({os.cpu_count()} CPUs, Python {sys.version.split()[0]})")
    print(f"{'run':>4} {'wall s':>8} {'doctor s':>9} {'findings':>9} {'exit':>5}")
    for i, (wall, duration, count, code) in enumerate(rows, 1):
        print(f"{i:>4} {wall:>8.3f} {duration:>9.3f} {count:>9} {code:>5}")
    median_wall = statistics.median(r[0] for r in rows)
    median_doctor = statistics.median(r[1] for r in rows)
    ok = median_wall < opts.target_s
    print(f"{'median':>4} {median_wall:>8.3f} {median_doctor:>9.3f}")
    print(
        f"target: median wall < {opts.target_s:g} s on a 2-core machine -> {'MET' if ok else 'MISSED'}"
        + ("" if os.cpu_count() == 2 else f" (measured on {os.cpu_count()} CPUs)")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
