"""gpu.consistency: sources compared, contradictions as errors (recorded texts, combined as the test says)."""

from __future__ import annotations

import json
from pathlib import Path

from gpucheck.collect.evidence import CommandRun, Evidence, Value
from gpucheck.diagnose.checks.consistency import check_consistency
from gpucheck.diagnose.facts import Facts
from gpucheck.diagnose.parse.nvidia_smi import parse_query_csv
from tests.fixtures.real.fake_nvidia_smi import csv_answer, sections

REAL = Path(__file__).parents[1] / "fixtures" / "real"
H100 = REAL / "ngexp--nvidia-h100-80gb-hbm3--590.48.01"
FIELDS = ["index", "name", "uuid", "pci.bus_id", "driver_version", "memory.total"]


def _bundle() -> dict[str, str]:
    meta = json.loads((H100 / "capture.json").read_text())
    return sections((H100 / meta["file"]).read_text(errors="replace"))


def _csv_run(stdout: str) -> CommandRun:
    argv = ("nvidia-smi", "--query-gpu=" + ",".join(FIELDS), "--format=csv,nounits")
    return CommandRun(argv=argv, returncode=0, stdout=stdout)


def _statuses(evidence: Evidence) -> list[tuple[str, str]]:
    return [(f.status.value, f.summary) for f in check_consistency(Facts(evidence))]


def test_nvml_agreeing_with_the_recorded_query_passes() -> None:
    """NVML readings written to match the recorded H100 CSV row (what a healthy host's NVML returns)."""
    out, _ = csv_answer(_bundle(), FIELDS)
    (row,) = parse_query_csv(out)
    nvml = {"driver_version": row["driver_version"], "gpus": [{"uuid": row["uuid"], "memory.total": 81559}]}
    evidence = Evidence()
    evidence.add([_csv_run(out), Value(name="nvml", data=nvml)])
    ((status, summary),) = _statuses(evidence)
    assert status == "pass" and "NVML, nvidia-smi --query-gpu agree (driver 590.48.01, 1 GPU)" == summary


def test_a_header_of_one_driver_and_a_query_of_another_is_an_error() -> None:
    """The recorded R470 table header beside the recorded R590 query: two installs answering."""
    header = (Path(__file__).parents[1] / "fixtures/system/nvidia_smi/header_r470.txt").read_text()
    out, _ = csv_answer(_bundle(), FIELDS)
    evidence = Evidence()
    evidence.add([_csv_run(out), CommandRun(argv=("nvidia-smi",), returncode=0, stdout=header)])
    ((status, summary),) = _statuses(evidence)
    assert status == "error"
    assert "nvidia-smi --query-gpu says 590.48.01" in summary
    assert "the nvidia-smi table says 470.86" in summary


def test_nvml_memory_disagreeing_is_a_warning_and_a_count_mismatch_an_error() -> None:
    out, _ = csv_answer(_bundle(), FIELDS)
    (row,) = parse_query_csv(out)
    nvml = {
        "driver_version": "590.48.01",
        "gpus": [{"uuid": row["uuid"], "memory.total": 40960}, {"uuid": "x"}],
    }
    evidence = Evidence()
    evidence.add([_csv_run(out), Value(name="nvml", data=nvml)])
    found = _statuses(evidence)
    assert [s for s, _ in found] == ["error", "error", "warn"]
    assert "GPU counts differ: NVML lists 2, nvidia-smi --query-gpu lists 1" in found[0][1]
    assert "81559 MiB" in found[2][1] and "40960 MiB" in found[2][1]


def test_negative_counts_and_duplicate_indexes_are_contradictions() -> None:
    """Written CSV: what no driver should print (a negative ECC count, one index twice)."""
    out = "index, uuid, ecc.errors.uncorrected.volatile.total\n0, GPU-a, -4\n0, GPU-b, 0\n"
    run = CommandRun(
        argv=("nvidia-smi", "--query-gpu=index,uuid,x", "--format=csv,nounits"), returncode=0, stdout=out
    )
    evidence = Evidence()
    evidence.add([run])
    summaries = [s for _, s in _statuses(evidence)]
    assert any("lists 0 as the index of more than one GPU" in s for s in summaries)
    assert any("ecc.errors.uncorrected.volatile.total = -4" in s for s in summaries)
