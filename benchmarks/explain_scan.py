"""Time `gpucheck explain`'s text pass (scan + pasted readers + ranking) beside a plain `grep -F` over the
same input, interleaved and repeated.

Usage: python benchmarks/explain_scan.py [--runs N] [--mb SIZE]

Inputs: (1) the whole corpus (tests/explain/corpus/*.toml texts) concatenated, (2) SIZE MB of the adversarial
text tests/explain/test_untrusted.py builds. The reference is `grep -c -F -f needles` with every catalogue
needle: the cost of merely finding the needles with a tool built for it. Prints median and min-max of each,
per input; exit status 0 always (this is a measurement, not a gate).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gpucheck.explain.catalogue import load_catalogue  # noqa: E402
from gpucheck.explain.engine import explain_text  # noqa: E402
from gpucheck.explain.text import clean  # noqa: E402
from tests.explain.test_corpus import CASES, load_case  # noqa: E402
from tests.explain.test_untrusted import adversarial_text  # noqa: E402


def time_explain(raw: bytes) -> float:
    t0 = time.perf_counter()
    explain_text(clean(raw))
    return time.perf_counter() - t0


def time_grep(path: Path, needles: Path) -> float:
    t0 = time.perf_counter()
    argv = ["grep", "-c", "-i", "-F", "-f", str(needles), str(path)]
    subprocess.run(argv, capture_output=True, check=False)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mb", type=float, default=10.0)
    args = parser.parse_args()
    needles = sorted({n for s in load_catalogue().signatures for n in s.needles})
    inputs = {
        "corpus": "\n".join(load_case(p)["text"] for p in CASES).encode(),
        f"adversarial {args.mb:g} MB": adversarial_text(int(args.mb * 1_000_000)).encode(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        needle_file = Path(tmp) / "needles.txt"
        needle_file.write_text("\n".join(needles) + "\n")
        for name, raw in inputs.items():
            path = Path(tmp) / "input.txt"
            path.write_bytes(raw)
            ours, grep = [], []
            for _ in range(args.runs):  # interleaved: each round runs both
                ours.append(time_explain(raw))
                grep.append(time_grep(path, needle_file))
            for label, values in (("explain text pass", ours), ("grep -F -f needles", grep)):
                spread = f"min {min(values):.3f}, max {max(values):.3f}, n={len(values)}"
                print(
                    f"{name:<22} {label:<20} median {statistics.median(values):7.3f} s  "
                    f"({spread}, {len(raw) / 1e6:.2f} MB)"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
