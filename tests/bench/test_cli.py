"""`gpucheck bench-smoke` through the real CLI, with tiny sizes (timings live in benchmarks/)."""

from __future__ import annotations

import json

import jsonschema
import pytest
import torch

from tests.conftest import run_gpucheck

TINY = ("--steps", "512", "--envs", "2")


def test_tiny_run_json_validates_and_reports_unsolved_as_exit_1(invoke, bench_schema):
    result = invoke("bench-smoke", *TINY, "--json")
    doc = json.loads(result.stdout)
    jsonschema.validate(doc, bench_schema)
    assert result.exit_code == 1 == doc["exit_code"]  # 512 steps cannot solve CartPole
    cpu = doc["results"][0]
    assert cpu["placement"] == "cpu" and cpu["status"] == "ok" and cpu["env_steps"] == 512
    assert doc["config"]["num_envs"] == 2 and doc["config"]["total_timesteps"] == 512
    assert "no placement solved" in doc["problems"][0]
    if not torch.cuda.is_available():
        assert [r["status"] for r in doc["results"][1:]] == ["skipped", "skipped"]
        assert doc["numerics"]["status"] == "skip" and doc["gpu_note"]


def test_tiny_sweep_writes_a_png_and_prints_the_crossover(invoke, tmp_path):
    plot = tmp_path / "out.png"
    result = invoke("bench-smoke", *TINY, "--hidden", "8,16", "--placements", "cpu", "--plot", str(plot))
    assert result.exit_code == 1
    assert "crossover: env steps/s by width" in result.stdout
    assert f"plot written to {plot}" in result.stdout.replace("\n", "")
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--hidden", "64,abc"), "--hidden wants positive integers"),
        (("--hidden", "0"), "--hidden"),
        (("--placements", "cpu,tpu"), "--placements"),
        (("--device", "tpu:0"), "--device"),
        (("--framework", "jax"), "--framework 'jax' is not supported yet"),
    ],
)
def test_usage_errors_exit_2(args, message):
    result = run_gpucheck("bench-smoke", *TINY, *args)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_default_run_solves_on_the_cpu(bench_schema):
    result = run_gpucheck("bench-smoke", "--json", timeout=300)
    doc = json.loads(result.stdout)
    jsonschema.validate(doc, bench_schema)
    assert result.exit_code == 0, doc["problems"]
    cpu = doc["results"][0]
    assert cpu["solved"] and cpu["eval_mean_return"] >= 475
    assert doc["recommendations"][0]["placement"] is not None


@pytest.mark.gpu
def test_gpu_machine_runs_all_three_placements(bench_schema):
    result = run_gpucheck("bench-smoke", "--json", timeout=600)
    doc = json.loads(result.stdout)
    jsonschema.validate(doc, bench_schema)
    assert [r["status"] for r in doc["results"]] == ["ok", "ok", "ok"]
    assert doc["numerics"]["status"] == "pass"
    assert all(r["peak_device_mib"] for r in doc["results"][1:])
