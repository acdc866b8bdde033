"""`gpucheck fleet report` at 1,000, 4,000 and 10,000 nodes: wall time and peak memory, so the growth shows.

The node reports are made from real doctor reports, not copies of one: the real `gpucheck doctor --json` on
this machine (no driver) and replaying the two-H100 snapshot, varied per node as fleets vary: four driver
branches (with the CUDA version each supports), three GPU models, 8 or 7 GPUs, about 3% of nodes failing one
check and 1% erroring one, each node its own hostname.

Each size runs `gpucheck fleet report DIR --markdown` as its own process (peak RSS from wait4), repeated and
interleaved across sizes. ``--reference`` also times the merge before the linear rewrite (commit 84d8b4d,
quadratic in nodes) at 1,000 nodes in the same run.

    python benchmarks/fleet_report.py [--sizes 1000,4000,10000] [--repeats 3] [--reference]

Target (issue 15): 10,000 nodes in ≤ 10 s and ≤ 500 MB on the 2-core development machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT / "tests" / "fixtures" / "system" / "snapshots" / "nvml_two_h100.json"
GPUCHECK = [sys.executable, "-m", "gpucheck"]
DRIVERS = [("550.54.14", "12.4"), ("550.90.07", "12.4"), ("535.104.05", "12.2"), ("560.35.03", "12.6")]
DRIVER_WEIGHTS = [70, 15, 10, 5]
MODELS = ["NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB", "NVIDIA L40S"]
REFERENCE_COMMIT = "84d8b4d"
REFERENCE = """
import sys, time, types, subprocess
from pathlib import Path
src = subprocess.run(["git", "-C", sys.argv[1], "show", sys.argv[2] + ":gpucheck/fleet/merge.py"],
                     capture_output=True, text=True, check=True).stdout
module = types.ModuleType("reference_merge")
sys.modules["reference_merge"] = module
exec(compile(src, "reference_merge.py", "exec"), module.__dict__)
from gpucheck.fleet.load import load_reports
from gpucheck.fleet.render import render_markdown
nodes, rejected = load_reports([Path(sys.argv[3])])
fleet = module.merge(nodes, rejected)
print(len(fleet.nodes))
"""


def real_reports(work: Path) -> list[dict]:
    """Two real doctor reports: this machine, and the replayed two-H100 snapshot."""
    out = []
    for args in (["--skip", "torch,tensorflow,framework"], ["--replay", str(SNAPSHOT)]):
        run = subprocess.run(
            [*GPUCHECK, "doctor", "--json", "--ci", "none", *args], capture_output=True, text=True, cwd=work
        )
        out.append(json.loads(run.stdout))
    return out


def vary(base: dict, i: int, rng: random.Random) -> dict:
    """One node's report: hostname, driver/CUDA, GPU model and count, at times a failing or erroring check."""
    doc = json.loads(json.dumps(base))
    doc["meta"]["hostname"] = f"gpu-{i // 1000:02d}-{i % 1000:03d}"
    driver, cuda = rng.choices(DRIVERS, DRIVER_WEIGHTS)[0]
    model = MODELS[0] if rng.random() < 0.8 else rng.choice(MODELS[1:])
    count = 8 if rng.random() < 0.97 else 7
    status = "pass"
    for f in doc["findings"]:
        data = f.setdefault("data", {})
        if f["check"] == "driver.loaded":
            f["status"] = "pass"
            data.update(driver_version=driver, cuda_version=cuda)
        elif f["check"] == "gpu.present":
            f["status"] = "pass"
            data.update(names=[model] * count, count=count)
    roll = rng.random()
    if roll < 0.03:
        victim = rng.choice(doc["findings"])
        victim["status"], status = "fail", "fail"
    elif roll < 0.04:
        victim = rng.choice(doc["findings"])
        victim["status"], status = "error", "error"
    worst = max((f["status"] for f in doc["findings"]), key=["pass", "skip", "warn", "error", "fail"].index)
    doc["status"] = worst if status == "pass" else status
    return doc


def generate(bases: list[dict], size: int, target: Path, seed: int) -> None:
    rng = random.Random(seed)
    target.mkdir(parents=True)
    for i in range(size):
        # NOTE: most nodes come from the H100 replay, a few from this machine's no-driver report as-is.
        base = bases[1] if rng.random() < 0.99 else bases[0]
        doc = (
            vary(base, i, rng)
            if base is bases[1]
            else {**base, "meta": {**base["meta"], "hostname": f"cpu-{i}"}}
        )
        (target / f"{doc['meta']['hostname']}.json").write_text(json.dumps(doc))


def measure(argv: list[str], ok: tuple[int, ...] = (0, 1)) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in ok:
        raise RuntimeError(f"{argv[:4]} exited {code}: {proc.stderr.read().decode()[-500:]}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,4000,10000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reference", action="store_true", help=f"also time the merge of {REFERENCE_COMMIT}")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="gpucheck-fleet-bench-"))
    try:
        bases = real_reports(work)
        for size in sizes:
            generate(bases, size, work / str(size), seed=size)
        results: dict[str, list[tuple[float, float]]] = {}
        for _ in range(args.repeats):
            for size in sizes:
                argv = [*GPUCHECK, "fleet", "report", str(work / str(size)), "--markdown"]
                results.setdefault(f"fleet report, {size:,} nodes", []).append(measure(argv))
                if args.reference and size == min(sizes):
                    ref = [
                        sys.executable,
                        "-c",
                        REFERENCE,
                        str(ROOT),
                        REFERENCE_COMMIT,
                        str(work / str(size)),
                    ]
                    results.setdefault(f"reference {REFERENCE_COMMIT} merge, {size:,} nodes", []).append(
                        measure(ref)
                    )
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(
            f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
            f"load average {load} (at the end)",
        )
        print(f"{'what':<40} {'wall s (median, min-max)':>28} {'peak RSS MB (max)':>18}")
        for what, runs in results.items():
            walls = [w for w, _ in runs]
            print(
                f"{what:<40} {statistics.median(walls):>10.2f} ({min(walls):.2f}-{max(walls):.2f}){'':>7} "
                f"{max(r for _, r in runs):>14.0f}"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
