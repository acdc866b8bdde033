"""Placements, the numerics check, matmul precision and latency probes, with the CPU standing in for a GPU."""

from __future__ import annotations

import copy
import subprocess
import sys
from dataclasses import replace

import pytest
import torch

from gpucheck.bench.latency import probe_latency
from gpucheck.bench.numerics import compare_first_update, first_update_inputs, judge, one_step
from gpucheck.bench.placement import (
    PLACEMENT_NAMES,
    Placement,
    Skipped,
    device_problem,
    make_placement,
    plan_placements,
    sync_weights,
)
from gpucheck.bench.ppo import Agent, PPOConfig, train
from gpucheck.bench.precision import (
    MatmulPrecision,
    active_matmul_precision,
    cuda_matmul_setting,
    describe,
    relative_tolerance,
)
from gpucheck.bench.timing import PeakMemory, PhaseTimer

CPU_ONLY = not torch.cuda.is_available()
FAKE_GPU = "cpu"
"""The device the device placements use in these tests: their copies, syncs and separate policy run."""


def test_placements_put_rollouts_updates_and_the_env_where_they_say():
    assert PLACEMENT_NAMES == ("cpu", "gpu", "split", "gpu-env")
    assert make_placement("cpu", "cuda:1") == Placement("cpu", "cpu", "cpu")
    assert make_placement("gpu", "cuda:1") == Placement("gpu", "cuda:1", "cuda:1")
    assert make_placement("split", "cuda:1") == Placement("split", "cpu", "cuda:1")
    assert make_placement("gpu-env", "cuda:1") == Placement("gpu-env", "cuda:1", "cuda:1")
    assert make_placement("split", "cuda:1").separate_policy
    assert make_placement("gpu-env", "cuda").torch_env and not make_placement("gpu", "cuda").torch_env
    assert (
        make_placement("gpu-env", "cuda").uses_accelerator
        and not make_placement("cpu", "cuda").uses_accelerator
    )
    with pytest.raises(ValueError, match="unknown placement"):
        make_placement("tpu", "cuda")


def _config(seed: int = 2) -> PPOConfig:
    return PPOConfig(seed=seed, total_timesteps=2048, eval_every=1024, eval_episodes=4, early_stop=False)


@pytest.mark.slow
def test_fake_device_placements_reproduce_the_cpu_run_exactly():
    # Same seed, same maths on the same device: any difference is a plumbing bug, e.g. a split policy
    # whose weights are never synced (its evaluations would stay at the initial policy's).
    cpu = train(_config(), make_placement("cpu", FAKE_GPU))
    for name in ("gpu", "split"):
        other = train(_config(), make_placement(name, FAKE_GPU))
        assert other.train_episode_returns == cpu.train_episode_returns
        assert [p.mean_return for p in other.curve] == [p.mean_return for p in cpu.curve]
        assert other.first_update_loss == cpu.first_update_loss
        if name == "split":
            assert other.phases["transfer"] > 0


@pytest.mark.slow
def test_gpu_env_trains_on_the_torch_cartpole_and_is_judged_on_gymnasium():
    result = train(
        replace(_config(), total_timesteps=6144, eval_every=2048), make_placement("gpu-env", FAKE_GPU)
    )
    assert result.env_steps == 6144 and len(result.curve) == 3
    assert result.phases["env"] > 0
    late, early = result.train_episode_returns[-10:], result.train_episode_returns[:10]
    assert sum(late) > sum(early), "training on the torch physics improves the Gymnasium-judged policy too"


def test_sync_weights_copies_learner_into_policy():
    torch.manual_seed(0)
    learner, policy = Agent(4, 2, 8), Agent(4, 2, 8)
    assert not torch.equal(learner.actor[0].weight, policy.actor[0].weight)
    sync_weights(learner, policy)
    for a, b in zip(learner.parameters(), policy.parameters(), strict=True):
        assert torch.equal(a, b) and a.data_ptr() != b.data_ptr()


@pytest.mark.skipif(not CPU_ONLY, reason="checks the CPU-only message")
def test_on_a_cpu_only_build_device_placements_are_skipped_with_the_reason():
    planned = plan_placements(list(PLACEMENT_NAMES), "cuda")
    assert planned[0] == Placement("cpu", "cpu", "cpu")
    assert [type(p) for p in planned[1:]] == [Skipped, Skipped, Skipped]
    if torch.version.cuda is None:
        assert "CPU-only build" in planned[1].reason and torch.__version__ in planned[1].reason
    else:
        assert "torch.cuda.is_available() is False" in planned[1].reason


@pytest.mark.skipif(not CPU_ONLY, reason="checks the CPU-only path")
def test_numerics_check_is_skipped_without_a_gpu():
    check = compare_first_update(_config(), "cuda:0")
    assert check.status == "skip" and check.reason == device_problem("cuda:0")


# --- numerics ----------------------------------------------------------------------------------------------


def test_numerics_check_plumbing_with_the_cpu_as_device():
    check = compare_first_update(replace(_config(), hidden=16), FAKE_GPU)
    assert check.status == "pass"
    assert check.loss_abs_diff == 0.0 and check.grad_max_abs_diff == 0.0 and check.step_max_abs_diff == 0.0
    assert check.loss_cpu == check.loss_device and check.optimizer_device == "fused"
    assert "TF32 off" in check.precision
    # K = the longest reduction: the minibatch's valid samples (auto-reset steps are dropped)
    k = len(first_update_inputs(replace(_config(), hidden=16))[1])
    assert 200 < k <= 256
    assert check.rtol == pytest.approx(relative_tolerance(k, *[MatmulPrecision("cpu", "ieee", "")] * 2))


def _steps(config: PPOConfig):
    agent, batch = first_update_inputs(config)
    return one_step(copy.deepcopy(agent), batch, config), agent, batch


def _perturbed(step, relative: float, seed: int = 0):
    """The same step with every gradient and weight moved by ``relative`` of its tensor's scale."""
    g = torch.Generator().manual_seed(seed)

    def noisy(tensors):
        return [
            t + relative * float(t.abs().max()) * (2 * torch.rand(t.shape, generator=g) - 1) for t in tensors
        ]

    return replace(step, loss=step.loss * (1 + relative), grads=noisy(step.grads))


IEEE = MatmulPrecision("cuda", "ieee", "test")
TF32 = MatmulPrecision("cuda", "tf32", "test")
CPU_P = MatmulPrecision("cpu", "ieee", "test")


def test_tf32_sized_differences_pass_under_tf32_and_fail_under_float32():
    config = replace(_config(), hidden=64)
    cpu, _, _ = _steps(config)
    # TF32-sized rounding on the device side: relative 2^-11 · √256 / 4 (well inside the TF32 bound)
    noisy = _perturbed(cpu, 2.0**-11 * 4)
    noisy = replace(noisy, after=cpu.after)  # the weights after the step agree (checked separately below)
    tf32 = judge(cpu, noisy, relative_tolerance(256, TF32, CPU_P), config, "cuda", TF32)
    ieee = judge(cpu, noisy, relative_tolerance(256, IEEE, CPU_P), config, "cuda", IEEE)
    assert tf32.status == "pass", tf32
    assert ieee.status == "fail" and ieee.grad_worst_ratio > 1


def test_a_wrong_kernel_fails_even_under_tf32():
    config = replace(_config(), hidden=64)
    cpu, _, _ = _steps(config)
    broken = replace(cpu, grads=[g.clone() for g in cpu.grads])
    broken.grads[2][0, 0] += 0.3 * float(broken.grads[2].abs().max())  # one wrong accumulation
    check = judge(cpu, broken, relative_tolerance(256, TF32, CPU_P), config, "cuda", TF32)
    assert check.status == "fail" and check.grad_worst_ratio > 1


def test_an_optimizer_step_that_moves_a_weight_wrongly_fails():
    config = replace(_config(), hidden=16)
    cpu, _, _ = _steps(config)
    after = [p.clone() for p in cpu.after]
    after[0][0, 0] += 2 * config.learning_rate  # Adam moved one weight the wrong way
    check = judge(cpu, replace(cpu, after=after), relative_tolerance(256, IEEE, CPU_P), config, "cuda", IEEE)
    assert check.status == "fail" and check.step_worst_ratio > 1
    # Under TF32 a weight whose gradient is within the noise may legitimately move either way; the one with
    # the largest gradient may not.
    after = [p.clone() for p in cpu.after]
    flat = cpu.clipped[0].abs().argmax()
    after[0].view(-1)[flat] += 2 * config.learning_rate
    check = judge(cpu, replace(cpu, after=after), relative_tolerance(256, TF32, CPU_P), config, "cuda", TF32)
    assert check.status == "fail" and check.step_worst_ratio > 1
    assert judge(cpu, cpu, 1e-6, config, "cuda", IEEE).status == "pass"


# --- matmul precision ---------------------------------------------------------------------------------------


def test_precision_reads_the_environment_override(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    forced = active_matmul_precision("cuda", {"TORCH_ALLOW_TF32_CUBLAS_OVERRIDE": "1"})
    assert forced.mode == "tf32" and "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=1" in forced.source
    assert describe(forced).startswith("TF32 on")
    plain = active_matmul_precision("cuda", {})
    assert plain.mode == cuda_matmul_setting()[0]
    assert active_matmul_precision("cpu", {"TORCH_ALLOW_TF32_CUBLAS_OVERRIDE": "1"}).mode == "ieee"


def test_pre_ampere_gpus_have_no_tf32(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))
    p = active_matmul_precision("cuda", {"TORCH_ALLOW_TF32_CUBLAS_OVERRIDE": "1"})
    assert p.mode == "ieee" and "7.5 < 8.0 has no TF32" in p.source


def test_tolerance_grows_with_the_precision_and_the_reduction_length():
    assert relative_tolerance(256, TF32, CPU_P) > 1000 * relative_tolerance(256, IEEE, CPU_P)
    assert relative_tolerance(1024, IEEE, CPU_P) == pytest.approx(2 * relative_tolerance(256, IEEE, CPU_P))


@pytest.mark.parametrize(
    ("setup", "mode"),
    [
        ("torch.backends.cuda.matmul.fp32_precision = 'tf32'", "tf32"),
        ("torch.backends.cuda.matmul.fp32_precision = 'ieee'", "ieee"),
        ("torch.set_float32_matmul_precision('high')", "tf32"),
        ("torch.backends.cuda.matmul.allow_tf32 = True", "tf32"),
        (
            "torch.backends.cuda.matmul.allow_tf32 = True\n"
            "torch.backends.cuda.matmul.fp32_precision = 'ieee'",
            "ieee",
        ),
        ("", "ieee"),
    ],
)
def test_both_precision_apis_and_their_mix_are_read_without_raising(setup, mode):
    # A fresh interpreter each: these settings are process-global, and mixing the APIs makes
    # torch.get_float32_matmul_precision() raise from then on.
    code = (
        f"import torch\n{setup}\n"
        "from gpucheck.bench.precision import cuda_matmul_setting\n"
        "print(cuda_matmul_setting()[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == mode


# --- latency probes, timers, memory ----------------------------------------------------------------------


def test_latency_probes_on_the_cpu_measure_dispatch_and_report_no_boundary():
    probes = probe_latency("cpu", (8, 64), num_steps=32, repeats=2, per_burst=5)
    assert probes.status == "ok" and probes.launch_us > 0 and probes.sync_us is None
    assert [(c.what, c.num_envs) for c in probes.copies] == [
        ("step", 8),
        ("rollout", 8),
        ("step", 64),
        ("rollout", 64),
    ]
    assert probes.copy_for(64, "rollout").nbytes == 32 * 64 * 4 * 4
    assert all(c.h2d_pageable_us is None and c.h2d_pinned_us is None for c in probes.copies)


def test_phase_timer_accounts_for_the_whole_wall_time():
    calls = []
    timer = PhaseTimer(sync=lambda: calls.append(1))
    with timer.phase("env"):
        sum(range(1000))
    with timer.phase("update"):
        sum(range(1000))
    totals = timer.totals(wall_s=1.0)
    assert totals["env"] > 0 and totals["update"] > 0 and totals["inference"] == 0
    assert sum(totals.values()) == pytest.approx(1.0)
    assert len(calls) == 2, "the device is synchronised at the end of every phase"
    timer.reset()
    assert sum(timer.seconds.values()) == 0


def test_peak_memory_sees_a_large_host_allocation():
    memory = PeakMemory()
    before = memory.host_mib()
    block = bytearray(200 * 1024 * 1024)
    block[::4096] = b"x" * len(block[::4096])  # touch every page so it is resident
    after = memory.host_mib()
    del block
    assert after >= before + 150
    assert memory.device_mib() is None


# --- on a real GPU ------------------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.skipif(CPU_ONLY, reason="needs a CUDA build of torch and a visible GPU")
@pytest.mark.parametrize("name", ["gpu", "split", "gpu-env"])
def test_real_gpu_placement_trains_and_reports_device_memory(name):
    (placement,) = plan_placements([name], "cuda")
    assert isinstance(placement, Placement), placement
    result = train(replace(_config(), evaluate=False), placement, warmup_iterations=1)
    assert result.env_steps == 2048 and result.peak_device_mib and result.peak_device_mib > 0
    assert result.optimizer.implementation in ("fused", "foreach")
    if name == "gpu-env":
        assert result.phases["transfer"] < result.phases["update"], "gpu-env keeps the rollout on the device"


@pytest.mark.gpu
@pytest.mark.skipif(CPU_ONLY, reason="needs a CUDA build of torch and a visible GPU")
def test_real_gpu_numerics_check_passes_at_the_active_precision():
    check = compare_first_update(_config(), "cuda")
    assert check.status == "pass", check
    assert check.device == "cuda" and check.optimizer_device in ("fused", "foreach")
    assert check.precision.startswith(("float32", "TF32 on"))


@pytest.mark.gpu
@pytest.mark.skipif(CPU_ONLY, reason="needs a CUDA build of torch and a visible GPU")
def test_real_gpu_latency_probes():
    probes = probe_latency("cuda", (8, 4096), repeats=3, per_burst=20)
    assert probes.status == "ok" and probes.launch_us > 0 and probes.sync_us > 0
    big = probes.copy_for(4096, "rollout")
    assert big.h2d_pageable_us > 0 and big.h2d_pinned_us > 0 and big.d2h_pinned_us > 0


@pytest.mark.gpu
def test_a_missing_gpu_index_is_skipped_not_crashed():
    index = torch.cuda.device_count() + 3
    planned = plan_placements(["gpu"], f"cuda:{index}")
    assert isinstance(planned[0], Skipped) and "does not exist" in planned[0].reason
