"""Verdicts and ties, the GPU crossover, deciding costs, failure rules, JSON, console tables and the plot."""

from __future__ import annotations

import io
import re

import jsonschema
import pytest
from matplotlib.image import imread
from rich.console import Console

from gpucheck.bench.latency import CopyProbe, LatencyProbes
from gpucheck.bench.numerics import NumericsCheck
from gpucheck.bench.plot import write_plot
from gpucheck.bench.runner import SolveRun, ThroughputRuns
from gpucheck.bench.summary import (
    deciding_cost,
    failures,
    gpu_crossover,
    gpu_note,
    render,
    to_json,
    verdict,
)
from gpucheck.report.theme import THEME
from tests.bench.conftest import cell, make_report, runs, skipped_runs, solve

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TRANSFER_HEAVY = {"env": 0.1, "inference": 0.2, "transfer": 0.45, "update": 0.2, "other": 0.05}


def test_the_fastest_median_wins_by_the_ratio_of_medians():
    v = verdict(
        cell(runs("cpu", 9000, 9500, 9200), runs("gpu", 3000, 3100, 2900), runs("split", 6000, 6100, 5900))
    )
    assert (v.winner, v.runner_up, v.tie) == ("cpu", "split", False)
    assert v.speedup == pytest.approx(9200 / 6000)
    assert "cpu wins, 1.53x split (9,200 vs 6,000 env steps/s)" in v.text


def test_overlapping_ranges_are_a_tie_even_with_different_medians():
    v = verdict(cell(runs("cpu", 9000, 10500, 9600), runs("split", 9400, 8800, 9300)))
    assert v.winner == "cpu" and v.tie and "tie" in v.text and "ranges overlap" in v.text
    v = verdict(cell(runs("cpu", 9000, 9100, 9050), runs("split", 8900, 8950, 8990)))
    assert not v.tie


def test_only_one_placement_ran_and_nothing_ran():
    v = verdict(cell(runs("cpu", 9000, 9100, 9050), skipped_runs("gpu")))
    assert v.winner == "cpu" and v.speedup is None and "the only placement that ran" in v.text
    v = verdict(cell(skipped_runs("cpu"), skipped_runs("gpu")))
    assert v.winner is None


def test_crossover_names_the_first_env_count_where_a_device_placement_wins():
    report = make_report(
        cell(runs("cpu", 9000, 9100, 9050, num_envs=8), runs("gpu-env", 3000, 3100, 3050, num_envs=8)),
        cell(
            runs("cpu", 20000, 21000, 20500, num_envs=64), runs("gpu-env", 19000, 22000, 21000, num_envs=64)
        ),
        cell(
            runs("cpu", 30000, 31000, 30500, num_envs=512), runs("gpu-env", 90000, 95000, 92000, num_envs=512)
        ),
    )
    # 64 envs: gpu-env's median is higher but the ranges overlap, so the crossover is 512
    assert gpu_crossover(report) == ["hidden 64: the GPU wins from 512 envs (gpu-env 3.02x cpu)"]
    cpu_wins = make_report(cell(runs("cpu", 9000, 9100, 9050), runs("gpu", 3000, 3100, 3050)))
    assert gpu_crossover(cpu_wins) == ["hidden 64: the CPU wins or ties at every env count tried (8)"]
    assert gpu_crossover(make_report(cell(runs("cpu", 9000, 9100), skipped_runs("gpu")))) == []


def _probes() -> LatencyProbes:
    return LatencyProbes(
        "ok", "cuda", launch_us=6.5, sync_us=14.0, copies=(CopyProbe("step", 8, 128, 11.0, 9.0, 12.0, 10.0),)
    )


def test_deciding_cost_names_the_largest_phase_and_the_probe_behind_it():
    gpu = runs("gpu", 3000, 3100, 2900, shares=TRANSFER_HEAVY)
    assert deciding_cost(gpu, _probes()) == (
        "gpu (hidden 64, 8 envs): host↔device transfers: 45 % of its wall time (one step's observations: "
        "11 µs host→device, 12 µs back, pageable; every step also waits for the device)"
    )
    env = runs(
        "gpu-env", 3000, shares={"env": 0.1, "inference": 0.5, "transfer": 0, "update": 0.35, "other": 0.05}
    )
    assert "policy inference during rollouts: 50 %" in deciding_cost(env, _probes())
    assert "launch-bound: 6.5 µs per kernel launch, 14 µs per sync" in deciding_cost(env, _probes())
    # split's rollout runs on the CPU: its inference is not launch-bound; its update is
    split_shares = {"env": 0.1, "inference": 0.5, "transfer": 0.05, "update": 0.3, "other": 0.05}
    assert "launch-bound" not in deciding_cost(runs("split", 3000, shares=split_shares), _probes())
    split_shares = {"env": 0.1, "inference": 0.2, "transfer": 0.05, "update": 0.6, "other": 0.05}
    assert "launch-bound" in deciding_cost(runs("split", 3000, shares=split_shares), _probes())
    cpu = runs("cpu", 9000)
    assert deciding_cost(cpu, _probes()) == (
        "cpu (hidden 64, 8 envs): the update (GAE, autograd backward, Adam): 60 % of its wall time"
    )
    assert deciding_cost(skipped_runs("gpu"), _probes()) is None


def test_skipped_device_placements_do_not_fail_a_default_run():
    report = make_report(cell(runs("cpu", 9000, 9100), skipped_runs("gpu")), skipped=("gpu",))
    assert failures(report) == []
    assert "on a machine with a CUDA GPU" in gpu_note(report)


def test_a_named_placement_that_cannot_run_fails_the_run():
    report = make_report(cell(runs("cpu", 9000, 9100), skipped_runs("gpu")), skipped=("gpu",), explicit=True)
    assert failures(report) == ["gpu was requested but could not run: torch 2.13.0+cpu is a CPU-only build"]


def test_nothing_solved_is_a_failure_with_a_next_step():
    report = make_report(cell(runs("cpu", 9000, 9100)), solves=(solve("cpu", solved=False),))
    (problem,) = failures(report)
    assert "no placement solved" in problem and "--steps (e.g. 100,000)" in problem
    # throughput was measured regardless: the verdict still names it
    assert verdict(report.cells[0]).winner == "cpu"


def test_errors_and_bad_numerics_fail_the_run():
    broken = ThroughputRuns("gpu", 64, 8, "error", "cuda", "cuda", "RuntimeError: CUDA out of memory")
    solve_broken = SolveRun("split", 64, 8, "error", "cpu", "cuda", "RuntimeError: device-side assert")
    report = make_report(cell(runs("cpu", 9000), broken), solves=(solve("cpu"), solve_broken))
    assert failures(report) == [
        "gpu (hidden 64, 8 envs) broke during the throughput pass: RuntimeError: CUDA out of memory",
        "split (hidden 64) broke during the solve pass: RuntimeError: device-side assert",
    ]
    bad = NumericsCheck(
        "fail", "cuda", "TF32 on: test", 1e-2, 1.0, 1.5, 0.5, 0.01, 0.1, 5.0, 0.0, 0.0, "f", "f"
    )
    report = make_report(cell(runs("cpu", 9000), runs("gpu", 3000)), numerics=bad)
    assert len(failures(report)) == 1 and "numerics check fail" in failures(report)[0]
    assert gpu_note(report) is None


def _console(width: int = 200) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=width, theme=THEME, no_color=True), out


def _sweep_report():
    return make_report(
        cell(
            runs("cpu", 9000, 9100, 9050),
            runs("gpu", 3000, 3100, 3050, shares=TRANSFER_HEAVY, device_mib=40.0),
            runs("split", 6000, 6100, 6050),
            runs("gpu-env", 4000, 4100, 4050),
        ),
        cell(
            runs("cpu", 30000, 31000, 30500, num_envs=512),
            runs("gpu", 20000, 21000, 20500, num_envs=512),
            runs("split", 25000, 26000, 25500, num_envs=512),
            runs("gpu-env", 90000, 95000, 92000, num_envs=512),
        ),
        numerics=NumericsCheck(
            "pass",
            "cuda",
            "float32 (TF32 off): x",
            1.5e-5,
            7.2,
            7.2,
            1e-7,
            1e-4,
            1e-8,
            0.01,
            1e-9,
            0.02,
            "fused",
            "fused",
        ),
        latency=_probes(),
    )


def test_console_report_shows_the_crossover_time_split_solve_and_deciding_costs():
    console, out = _console()
    render(_sweep_report(), console)
    text = out.getvalue()
    assert "9,050 (9,000–9,100)" in text and "92,000 (90,000–95,000)" in text
    assert "gpu-env (3.02x cpu)" in text
    assert "crossover: hidden 64: the GPU wins from 512 envs (gpu-env 3.02x cpu)" in text
    assert "decided by: gpu (hidden 64, 8 envs): host↔device transfers: 45 %" in text
    assert "numerics check passed" in text and "TF32 off" in text
    assert "latency on cuda: launch 6.5 µs" in text
    assert "s excl. eval" in text


def test_piped_output_wraps_instead_of_clipping():
    narrow, narrow_out = _console(width=60)
    wide, wide_out = _console(width=250)
    render(_sweep_report(), narrow)
    render(_sweep_report(), wide)
    assert "…" not in narrow_out.getvalue(), "nothing is cut off with an ellipsis"

    def characters(text: str) -> list[str]:
        return sorted(re.sub(r"[\s│┃┏┓┗┛┡┩┳┻╇━─└┘┌┐┬┴┼├┤]", "", text))

    # Every character of the wide report is in the narrow one: cells wrapped, none clipped
    assert characters(narrow_out.getvalue()) == characters(wide_out.getvalue())


def test_console_lists_skips_once_and_escapes_markup():
    report = make_report(
        cell(runs("cpu", 9000, 9100), skipped_runs("gpu"), skipped_runs("split")), skipped=("gpu", "split")
    )
    console, out = _console()
    render(report, console)
    text = out.getvalue()
    assert text.count("gpu, split skipped: torch 2.13.0+cpu is a CPU-only build") == 1
    assert "note: on a machine with a CUDA GPU" in text
    broken = ThroughputRuns("gpu", 64, 8, "error", "cuda", "cuda", "ValueError: [bold]not markup[/bold]")
    console, out = _console()
    render(make_report(cell(runs("cpu", 9000), broken)), console)
    assert "[bold]not markup[/bold]" in out.getvalue()


def test_json_document_validates_and_carries_the_figures(bench_schema):
    doc = to_json(_sweep_report(), 0)
    jsonschema.validate(doc, bench_schema)
    first = doc["throughput"][0]
    cpu = first["placements"][0]
    assert cpu["steps_per_s"] == pytest.approx([9000, 9100, 9050]) and cpu["median"] == pytest.approx(9050)
    assert sum(cpu["time_split_fraction"].values()) == pytest.approx(1.0)
    assert first["verdict"]["winner"] == "cpu" and not first["verdict"]["tie"]
    assert doc["gpu_crossover"] == ["hidden 64: the GPU wins from 512 envs (gpu-env 3.02x cpu)"]
    assert doc["latency"]["copies"][0]["h2d_pageable_us"] == 11.0
    solved = doc["solve"][0]
    assert solved["solved"] and solved["solved_at"]["train_s"] < solved["solved_at"]["wall_s"]


def test_json_for_skipped_and_failed_runs_validates(bench_schema):
    broken = ThroughputRuns("gpu", 64, 8, "error", "cuda", "cuda", "RuntimeError: boom")
    report = make_report(
        cell(runs("cpu", 9000), broken, skipped_runs("split")),
        solves=(solve("cpu", solved=False), SolveRun("split", 64, 8, "skipped", reason="no GPU")),
        skipped=("split",),
        explicit=True,
    )
    doc = to_json(report, 1)
    jsonschema.validate(doc, bench_schema)
    assert doc["status"] == "failed" and len(doc["problems"]) == 3


def test_plot_is_a_valid_png_with_three_panels(tmp_path):
    path = write_plot(_sweep_report(), tmp_path / "bench.png")
    assert path.read_bytes()[:8] == PNG_MAGIC
    height, width, _ = imread(path).shape
    assert width > 2.5 * height


def test_plot_of_a_cpu_only_run(tmp_path):
    report = make_report(cell(runs("cpu", 9000, 9100), skipped_runs("gpu")), skipped=("gpu",))
    path = write_plot(report, tmp_path / "cpu.png")
    assert path.read_bytes()[:8] == PNG_MAGIC
