"""Recommendation, failure rules, JSON document, console tables and the plot."""

from __future__ import annotations

import io

import jsonschema
import pytest
from matplotlib.image import imread
from rich.console import Console

from gpucheck.bench.numerics import NumericsCheck
from gpucheck.bench.plot import write_plot
from gpucheck.bench.runner import PlacementResult
from gpucheck.bench.summary import failures, gpu_note, recommend, render, to_json
from gpucheck.report.theme import THEME
from tests.bench.conftest import make_report, ok, skipped

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_recommends_the_fastest_placement_that_solved_and_by_how_much():
    report = make_report(ok("cpu", 9000), ok("gpu", 12000, solved=False), ok("split", 6000))
    rec = recommend(report, 64)
    # gpu is fastest but did not solve; cpu is the fastest that solved; the runner-up is gpu (ran, faster)
    assert rec.placement == "cpu" and rec.runner_up == "gpu"
    assert rec.speedup == pytest.approx(9000 / 12000)
    report = make_report(ok("cpu", 9000), ok("gpu", 3000), ok("split", 11250))
    rec = recommend(report, 64)
    assert (rec.placement, rec.runner_up) == ("split", "cpu")
    assert rec.speedup == pytest.approx(1.25)
    assert "1.25x the env steps/s of cpu" in rec.text


def test_only_one_placement_ran():
    report = make_report(ok("cpu", 9000), skipped("gpu"), skipped("split"))
    rec = recommend(report, 64)
    assert rec.placement == "cpu" and rec.speedup is None
    assert "the only placement that ran" in rec.text
    assert failures(report) == []
    assert "on a machine with a CUDA GPU" in gpu_note(report)


def test_nothing_solved_is_a_failure_with_a_next_step():
    report = make_report(ok("cpu", 9000, solved=False), skipped("gpu"), skipped("split"))
    rec = recommend(report, 64)
    assert rec.placement is None and "--steps" in rec.text and "100,000" in rec.text
    assert failures(report) == [rec.text]


def test_errors_and_bad_numerics_fail_the_run():
    broken = PlacementResult("gpu", 64, "error", "cuda", "cuda", reason="RuntimeError: CUDA out of memory")
    report = make_report(ok("cpu", 9000), broken, ok("split", 8000))
    assert failures(report) == ["gpu at hidden 64 broke: RuntimeError: CUDA out of memory"]
    bad = NumericsCheck("fail", "cuda", 1.0, 1.01, 0.01, 0.02, 1.0)
    report = make_report(ok("cpu", 9000), ok("gpu", 3000), ok("split", 8000), numerics=bad)
    assert len(failures(report)) == 1 and "numerics check fail" in failures(report)[0]
    assert gpu_note(report) is None


def test_crossover_picks_a_winner_per_width():
    report = make_report(
        ok("cpu", 9000, hidden=64),
        ok("split", 7000, hidden=64),
        ok("cpu", 5000, hidden=256),
        ok("split", 7500, hidden=256),
        hidden=(64, 256),
    )
    assert [recommend(report, h).placement for h in (64, 256)] == ["cpu", "split"]
    out = io.StringIO()
    render(report, Console(file=out, width=100, color_system=None, theme=THEME))
    text = out.getvalue()
    assert "crossover: env steps/s by width" in text
    assert (
        "recommendation: use cpu at hidden 64" in text and "recommendation: use split at hidden 256" in text
    )


def test_console_report_shows_figures_skips_and_the_note():
    report = make_report(ok("cpu", 9000), skipped("gpu"), skipped("split"))
    out = io.StringIO()
    render(report, Console(file=out, width=120, color_system=None, theme=THEME))
    text = out.getvalue()
    assert "9,000" in text and "20,480" in text
    assert "gpu, split skipped: torch 2.13.0+cpu is a CPU-only build" in text
    assert "numerics check skipped" in text
    assert "note: on a machine with a CUDA GPU" in text
    assert "crossover" not in text


def test_console_escapes_markup_in_reasons():
    report = make_report(ok("cpu", 9000), skipped("gpu", reason="weird [bold]device[/bold]"))
    out = io.StringIO()
    render(report, Console(file=out, width=120, color_system=None, theme=THEME))
    assert "weird [bold]device[/bold]" in out.getvalue()


def test_json_document_validates_and_carries_the_figures(bench_schema):
    report = make_report(ok("cpu", 9000), ok("gpu", 3000, device_mib=40.0), ok("split", 8000, solved=False))
    doc = to_json(report, 0)
    jsonschema.validate(doc, bench_schema)
    cpu = doc["results"][0]
    assert cpu["steps_per_s"] == pytest.approx(9000)
    assert sum(cpu["time_split_s"].values()) == pytest.approx(cpu["wall_s"])
    assert doc["results"][1]["peak_device_mib"] == 40.0
    assert doc["recommendations"][0]["placement"] == "cpu"
    assert doc["status"] == "ok" and doc["problems"] == []


def test_json_for_skipped_and_failed_runs_validates(bench_schema):
    report = make_report(ok("cpu", 9000, solved=False), skipped("gpu"), skipped("split"))
    doc = to_json(report, 1)
    jsonschema.validate(doc, bench_schema)
    assert doc["status"] == "failed" and doc["exit_code"] == 1
    assert doc["recommendations"][0]["placement"] is None
    bad = dict(doc, exit_code=7)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, bench_schema)


def test_plot_is_a_valid_png(tmp_path):
    report = make_report(ok("cpu", 9000), ok("split", 7000), skipped("gpu"))
    path = write_plot(report, tmp_path / "bench.png")
    assert path.read_bytes()[:8] == PNG_MAGIC
    image = imread(path)
    assert image.shape[0] > 300 and image.shape[1] > 800
