#!/usr/bin/env python3
"""Turn a `scripts/gpu-verify.sh` results directory into fixtures under tests/fixtures/real/.

usage: python scripts/import-gpu-evidence.py RESULTS_DIR [--dest tests/fixtures/real] [--date YYYY-MM-DD]

For each nvidia-smi form the run recorded (``-q -x`` → ``xml``, ``-q`` → ``query-text``) it writes one
capture folder in the corpus layout of tests/fixtures/real/ (README.md there): the output copied byte for
byte,
``capture.json`` with the form, the facts and the expected statuses, and ``PROVENANCE.toml`` (kind
``recorded``, the GPU, the driver and the date). The facts come from the run's separate
``--query-gpu=... --format=csv`` recording, read here with the csv module, not with gpucheck's parsers, so the
corpus test checks gpucheck against a second reading of the same machine. The XML folder also keeps the rest
of the run under ``extra/``: the snapshot, the other nvidia-smi outputs, nvcc, the torch and TensorFlow worker
reports, collect_env, the TF start-up log, the doctor and bench-smoke reports, the JUnit file and the summary.
A row per folder is added to tests/fixtures/real/README.md. Nothing is overwritten: an existing folder of the
same name is an error (exit 1).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOL = "scripts/gpu-verify.sh"
"""Marks a capture recorded by this project's own run (no other project's repo, commit or licence to name)."""
EXTRA = (
    "evidence/snapshot.json",
    "evidence/nvcc-version.txt",
    "evidence/torch-worker.json",
    "evidence/tf-worker.json",
    "evidence/collect_env.txt",
    "evidence/tf-startup.log",
    "evidence/tf-startup.stdout",
    "evidence/nvidia-smi-facts.csv",
    "doctor.json",
    "doctor-tf2-bf16.json",
    "doctor.md",
    "bench.json",
    "bench-latency.json",
    "bench.png",
    "junit-gpu.xml",
    "summary.md",
    "steps.tsv",
)
FORMS = {("-q", "-x"): ("xml", "nvidia-smi-q-x.xml"), ("-q",): ("query-text", "nvidia-smi-q.txt")}
_CUDA = re.compile(r"CUDA (?:UMD )?Version: *([0-9]+\.[0-9]+)")
_NUMBER = re.compile(r"-?[0-9]+")


class ImportError_(Exception):
    """The results directory lacks what a fixture needs."""


def _cell(value: str) -> str | None:
    value = value.strip()
    return None if not value or value.startswith("[") or value in ("N/A", "Not Supported") else value


def _int(value: str) -> int | None:
    cell = _cell(value)
    match = _NUMBER.search(cell) if cell else None
    return int(match.group()) if match else None


def _flag(value: str, yes: str = "Enabled", no: str = "Disabled") -> bool | None:
    cell = _cell(value)
    return True if cell in (yes, "Yes") else False if cell in (no, "No") else None


def read_facts_csv(text: str) -> list[dict]:
    """The per-GPU facts from ``nvidia-smi --query-gpu=<fields> --format=csv`` (header with units)."""
    rows = list(csv.reader(text.splitlines(), skipinitialspace=True))
    if len(rows) < 2:
        raise ImportError_("nvidia-smi-facts.csv has no GPU row")
    header = [h.split(" [", 1)[0].strip() for h in rows[0]]
    gpus = []
    for row in rows[1:]:
        if not row:
            continue
        r = dict(zip(header, row, strict=False))
        pstate = _cell(r.get("pstate", ""))
        gpus.append(
            {
                "driver_version": _cell(r.get("driver_version", "")),
                "name": _cell(r.get("name", "")),
                "uuid": _cell(r.get("uuid", "")),
                "memory_total_mib": _int(r.get("memory.total", "")),
                "compute_capability": _cell(r.get("compute_cap", "")),
                "persistence_mode": _flag(r.get("persistence_mode", "")),
                "compute_mode": _cell(r.get("compute_mode", "")),
                "mig_mode": _flag(r.get("mig.mode.current", "")),
                "ecc_mode": _flag(r.get("ecc.mode.current", "")),
                "ecc_uncorrected": _int(r.get("ecc.errors.uncorrected.volatile.total", "")),
                "ecc_uncorrected_aggregate": _int(r.get("ecc.errors.uncorrected.aggregate.total", "")),
                "retired_pages_pending": _flag(r.get("retired_pages.pending", ""), "Yes", "No"),
                "remapped_rows_pending": _flag(r.get("remapped_rows.pending", ""), "Yes", "No"),
                "remapped_rows_failure": _flag(r.get("remapped_rows.failure", ""), "Yes", "No"),
                "pstate": int(pstate[1:]) if pstate and pstate[1:].isdigit() else None,
                "utilization_pct": _int(r.get("utilization.gpu", "")),
                "pcie_gen_current": _int(r.get("pcie.link.gen.current", "")),
                "pcie_gen_max": _int(r.get("pcie.link.gen.max", "")),
                "pcie_width_current": _int(r.get("pcie.link.width.current", "")),
                "pcie_width_max": _int(r.get("pcie.link.width.max", "")),
            }
        )
    return gpus


def recorded_commands(evidence: Path) -> dict[tuple[str, ...], Path]:
    """nvidia-smi arguments → the output of a successful run of them (the shim's ``<base>.argv/.out/.rc``)."""
    found = {}
    for argv_file in sorted(evidence.glob("nvidia-smi-*.argv")):
        args = tuple(argv_file.read_text().split())
        out, rc = argv_file.with_suffix(".out"), argv_file.with_suffix(".rc")
        status = rc.read_text().strip() if rc.is_file() else "0"
        if out.is_file() and out.stat().st_size and status == "0":
            found[args] = out
    return found


def expectations(gpus: list[dict]) -> dict[str, str]:
    """The statuses the facts call for: a driver and GPUs that answered; health when the counts say."""
    expect = {"driver.loaded": "pass", "gpu.present": "pass"}
    if (
        all(g["ecc_uncorrected"] == 0 and g["remapped_rows_failure"] is not True for g in gpus)
        and all(
            g["retired_pages_pending"] is not None or g["remapped_rows_pending"] is not None for g in gpus
        )
        and not any(g["retired_pages_pending"] or g["remapped_rows_pending"] for g in gpus)
    ):
        expect["gpu.health"] = "pass"
    return expect


def slug(text: str) -> str:
    """``NVIDIA H100 80GB HBM3`` → ``nvidia-h100-80gb-hbm3``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def import_results(results: Path, dest: Path, date: str) -> list[Path]:
    """Write the capture folders for one results directory; returns them."""
    evidence = results / "evidence"
    facts_csv = evidence / "nvidia-smi-facts.csv"
    if not facts_csv.is_file():
        raise ImportError_(
            f"{facts_csv} is missing: gpu-verify.sh ran without a GPU, or its evidence step failed"
        )
    gpus = read_facts_csv(facts_csv.read_text())
    driver = gpus[0].pop("driver_version")
    for g in gpus[1:]:
        g.pop("driver_version")
    commands = recorded_commands(evidence)
    table = commands.get(())
    match = _CUDA.search(table.read_text(errors="replace")) if table else None
    cuda = match.group(1) if match else None
    models = sorted({g["name"] or "unknown GPU" for g in gpus})
    machine = f"{len(gpus)}× {', '.join(models)}, driver {driver}" + (f", CUDA {cuda}" if cuda else "")
    base = f"gpuverify--{slug(models[0])}{'-x' + str(len(gpus)) if len(gpus) > 1 else ''}--{driver}"
    made = []
    for args, (form, filename) in FORMS.items():
        if args not in commands:
            continue
        folder = dest / (base if form == "xml" else f"{base}--{form}")
        if folder.exists():
            raise ImportError_(f"{folder} exists already; remove it or import into another --dest")
        folder.mkdir(parents=True)
        shutil.copyfile(commands[args], folder / filename)
        capture = {
            "file": filename,
            "form": form,
            "notes": f"recorded by scripts/gpu-verify.sh, {date}",
            "facts": {"driver": driver, "cuda": cuda, "attached_gpus": len(gpus), "gpus": gpus},
            "expect": expectations(gpus),
        }
        (folder / "capture.json").write_text(json.dumps(capture, indent=1, ensure_ascii=False) + "\n")
        source = f"scripts/gpu-verify.sh on a lent GPU machine ({machine}), {date}"
        entries = [
            _entry(
                filename,
                "recorded",
                source=source,
                whole=True,
                machine=machine,
                date=date,
                command="nvidia-smi " + " ".join(args),
                tool=TOOL,
            )
        ]
        entries.append(
            _entry(
                "capture.json",
                "written",
                basis=(
                    "scripts/import-gpu-evidence.py: the facts read from the same run's "
                    "`nvidia-smi --query-gpu=... --format=csv` recording (evidence/nvidia-smi-facts.csv) "
                    "with the csv module, not gpucheck's parsers"
                ),
            )
        )
        if form == "xml":
            extra = folder / "extra"
            extra.mkdir()
            for rel in EXTRA:
                if (results / rel).is_file():
                    shutil.copyfile(results / rel, extra / Path(rel).name)
            for argv, out in commands.items():
                if argv not in FORMS:
                    name = "nvidia-smi" + ("_" + slug(" ".join(argv))[:60] if argv else "_table") + ".txt"
                    shutil.copyfile(out, extra / name)
            entries.append(
                _entry("extra/*", "recorded", source=source, whole=True, machine=machine, date=date)
            )
        (folder / "PROVENANCE.toml").write_text(
            f"# {folder.name}: recorded by gpucheck's scripts/gpu-verify.sh "
            "(format: tests/core/test_fixture_provenance.py).\n\n" + "\n".join(entries)
        )
        _add_readme_row(dest, folder.name, form, driver, cuda, len(gpus), models, source)
        made.append(folder)
    if not made:
        raise ImportError_("the run recorded neither `nvidia-smi -q -x` nor `nvidia-smi -q`")
    return made


def _toml(value: object) -> str:
    return "true" if value is True else json.dumps(value, ensure_ascii=False)


def _entry(path: str, kind: str, **fields: object) -> str:
    lines = ["[[file]]", f"path = {_toml(path)}", f"kind = {_toml(kind)}"]
    lines += [f"{key} = {_toml(value)}" for key, value in fields.items()]
    return "\n".join(lines) + "\n"


def _add_readme_row(
    dest: Path,
    name: str,
    form: str,
    driver: str,
    cuda: str | None,
    count: int,
    models: list[str],
    source: str,
) -> None:
    readme = dest / "README.md"
    gpus = f"{count}× {', '.join(models)}"
    row = f"| `{name}` | {form} | {driver} | {cuda or '—'} | {gpus} | gpu-verify run | {source} |"
    if readme.is_file():
        readme.write_text(readme.read_text().rstrip("\n") + "\n" + row + "\n")


def main(argv: list[str] | None = None) -> int:
    """The command line; exit 0 with the folders written, 1 when the results cannot make a fixture."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--dest", type=Path, default=ROOT / "tests" / "fixtures" / "real")
    parser.add_argument(
        "--date", default=None, help="the run's date (default: the results' summary.md mtime)"
    )
    args = parser.parse_args(argv)
    if not args.results.is_dir():
        print(f"import-gpu-evidence: {args.results} is not a directory", file=sys.stderr)
        return 2
    summary = args.results / "summary.md"
    stamp = summary.stat().st_mtime if summary.exists() else args.results.stat().st_mtime
    date = args.date or datetime.fromtimestamp(stamp, tz=timezone.utc).date().isoformat()
    try:
        made = import_results(args.results, args.dest, date)
    except ImportError_ as exc:
        print(f"import-gpu-evidence: {exc}", file=sys.stderr)
        return 1
    for folder in made:
        print(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
