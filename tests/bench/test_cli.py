"""`gpucheck bench-smoke` through the real CLI, with tiny sizes (timings live in benchmarks/)."""

from __future__ import annotations

import json
import os

import jsonschema
import pytest
import torch

from tests.conftest import run_gpucheck

TINY = ("--steps", "512", "--envs", "2", "--window", "128", "--repeats", "2", "--no-latency")
CPU_ONLY = not torch.cuda.is_available()


def test_tiny_run_json_validates_and_reports_unsolved_as_exit_1(invoke, bench_schema):
    result = invoke("bench-smoke", *TINY, "--json")
    doc = json.loads(result.stdout)
    jsonschema.validate(doc, bench_schema)
    assert result.exit_code == 1 == doc["exit_code"]  # 512 steps cannot solve CartPole
    (cell,) = doc["throughput"]
    cpu = cell["placements"][0]
    assert cpu["placement"] == "cpu" and cpu["status"] == "ok" and len(cpu["steps_per_s"]) == 2
    assert cell["window_steps"] == 128 and cpu["optimizer"] == "fused"
    assert doc["solve"][0]["env_steps"] == 512 and not doc["solve"][0]["solved"]
    assert doc["config"]["envs"] == [2] and doc["config"]["total_timesteps"] == 512
    assert "no placement solved" in doc["problems"][0]
    if CPU_ONLY:
        assert [r["status"] for r in cell["placements"][1:]] == ["skipped"] * 3
        assert doc["numerics"]["status"] == "skip" and doc["gpu_note"]
        assert doc["latency"]["status"] == "skip"


def test_env_and_width_sweep_prints_the_crossover_and_writes_a_png(invoke, tmp_path):
    plot = tmp_path / "out.png"
    result = invoke(
        "bench-smoke", *TINY, "--envs", "2,4", "--hidden", "8,16", "--placements", "cpu", "--plot", str(plot)
    )
    assert result.exit_code == 1
    text = " ".join(result.stdout.split())
    assert "throughput: env steps/s, median (min–max) of 2 repeats" in text
    for hidden, envs in ((8, 2), (8, 4), (16, 2), (16, 4)):
        assert f"verdict: hidden {hidden}, {envs} envs: cpu is the only placement that ran" in text
    assert f"plot written to {plot}" in result.stdout.replace("\n", "")
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_width_sweeps_time_equal_windows(invoke):
    result = invoke("bench-smoke", *TINY, "--hidden", "8,32", "--placements", "cpu", "--json")
    doc = json.loads(result.stdout)
    assert [c["window_steps"] for c in doc["throughput"]] == [128, 128]
    # a throughput figure exists for every width whether or not it solved
    assert all(c["verdict"]["winner"] == "cpu" for c in doc["throughput"])


def test_steps_below_one_rollout_is_a_usage_error():
    result = run_gpucheck("bench-smoke", "--steps", "100")
    assert result.exit_code == 2, result.stderr
    assert "--steps 100 is below one rollout (8 envs x 32 steps = 256 env steps)" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(not CPU_ONLY, reason="checks the message on a host without a usable GPU")
def test_device_placements_on_a_cpu_only_host_say_so_and_exit_2():
    result = run_gpucheck("bench-smoke", *TINY, "--placements", "gpu,split")
    assert result.exit_code == 2, result.stderr
    assert "none of the requested placements (gpu, split) can run here" in result.stderr
    assert "no placement solved" not in result.stderr + result.stdout
    assert result.stdout == ""


@pytest.mark.skipif(not CPU_ONLY, reason="checks a host without a usable GPU")
def test_a_named_device_placement_that_cannot_run_fails_beside_cpu(invoke):
    result = invoke("bench-smoke", *TINY, "--placements", "cpu,gpu-env", "--json")
    doc = json.loads(result.stdout)
    assert result.exit_code == 1
    assert any(p.startswith("gpu-env was requested but could not run") for p in doc["problems"])


def test_piped_output_is_not_clipped_and_progress_prints_lines():
    env = {k: v for k, v in os.environ.items() if k != "FORCE_COLOR"} | {"COLUMNS": "80"}
    result = run_gpucheck("bench-smoke", *TINY, "--hidden", "8", env=env)
    assert "…" not in result.stdout
    assert "verdict: hidden 8, 2 envs: cpu" in result.stdout.replace("\n", " ")
    lines = [line for line in result.stderr.splitlines() if line.startswith("bench-smoke: [")]
    assert len(lines) >= 3, result.stderr  # 2 throughput repeats + 1 solve run, one line each
    assert "throughput cpu h8 e2 repeat 1" in lines[0] and "env steps/s" in lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--hidden", "64,abc"), "--hidden wants positive integers"),
        (("--hidden", "0"), "--hidden"),
        (("--envs", "8,-1"), "--envs wants positive integers"),
        (("--placements", "cpu,tpu"), "--placements"),
        (("--device", "tpu:0"), "--device"),
        (("--activation", "swish"), "--activation wants one of tanh"),
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
    cpu = doc["solve"][0]
    assert cpu["solved"] and cpu["eval_mean_return"] >= 475
    assert doc["throughput"][0]["verdict"]["winner"] is not None


@pytest.mark.gpu
@pytest.mark.skipif(CPU_ONLY, reason="needs a CUDA build of torch and a visible GPU")
def test_gpu_machine_runs_all_four_placements_and_the_sweep(bench_schema):
    result = run_gpucheck("bench-smoke", "--envs", "8,512", "--window", "32768", "--json", timeout=600)
    doc = json.loads(result.stdout)
    jsonschema.validate(doc, bench_schema)
    for cell in doc["throughput"]:
        assert [r["status"] for r in cell["placements"]] == ["ok"] * 4
        assert all(r["peak_device_mib"] for r in cell["placements"][1:])
    assert [s["status"] for s in doc["solve"]] == ["ok"] * 4
    assert doc["numerics"]["status"] == "pass", doc["numerics"]
    assert doc["latency"]["status"] == "ok" and doc["latency"]["sync_us"] > 0
    assert doc["gpu_crossover"]
