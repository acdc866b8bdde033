"""Placement plumbing: the gpu and split code paths run for real with the CPU standing in for the GPU."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from gpucheck.bench.numerics import compare_first_update
from gpucheck.bench.placement import (
    Placement,
    Skipped,
    device_problem,
    make_placement,
    plan_placements,
    sync_weights,
)
from gpucheck.bench.ppo import Agent, PPOConfig, train
from gpucheck.bench.timing import PeakMemory, PhaseTimer

CPU_ONLY = not torch.cuda.is_available()
FAKE_GPU = "cpu"
"""The device the gpu and split placements use in these tests: their copies, syncs and separate policy run."""


def test_placements_put_rollouts_and_updates_where_they_say():
    assert make_placement("cpu", "cuda:1") == Placement("cpu", "cpu", "cpu")
    assert make_placement("gpu", "cuda:1") == Placement("gpu", "cuda:1", "cuda:1")
    assert make_placement("split", "cuda:1") == Placement("split", "cpu", "cuda:1")
    assert make_placement("split", "cuda:1").separate_policy
    assert not make_placement("gpu", "cuda:1").separate_policy
    assert (
        make_placement("gpu", "cuda").uses_accelerator and not make_placement("cpu", "cuda").uses_accelerator
    )
    with pytest.raises(ValueError, match="unknown placement"):
        make_placement("tpu", "cuda")


def _config(seed: int = 2) -> PPOConfig:
    return PPOConfig(seed=seed, total_timesteps=4096, eval_every=2048, eval_episodes=4, early_stop=False)


@pytest.mark.slow
def test_fake_device_placements_reproduce_the_cpu_run_exactly():
    # Same seed, same maths on the same device: any difference is a plumbing bug, e.g. a split policy
    # whose weights are never synced (its evaluations would stay at the initial policy's).
    cpu = train(_config(), make_placement("cpu", FAKE_GPU))
    gpu = train(_config(), make_placement("gpu", FAKE_GPU))
    split = train(_config(), make_placement("split", FAKE_GPU))
    for other in (gpu, split):
        assert other.train_episode_returns == cpu.train_episode_returns
        assert [p.mean_return for p in other.curve] == [p.mean_return for p in cpu.curve]
        assert other.first_update_loss == cpu.first_update_loss
    assert split.phases["transfer"] > 0


def test_sync_weights_copies_learner_into_policy():
    torch.manual_seed(0)
    learner, policy = Agent(4, 2, 8), Agent(4, 2, 8)
    assert not torch.equal(learner.flat, policy.flat)
    sync_weights(learner, policy)
    assert torch.equal(learner.flat, policy.flat)
    assert learner.flat.data_ptr() != policy.flat.data_ptr()


@pytest.mark.skipif(not CPU_ONLY, reason="checks the CPU-only message")
def test_on_a_cpu_only_build_gpu_placements_are_skipped_with_the_reason():
    planned = plan_placements(["cpu", "gpu", "split"], "cuda")
    assert planned[0] == Placement("cpu", "cpu", "cpu")
    assert [type(p) for p in planned[1:]] == [Skipped, Skipped]
    if torch.version.cuda is None:
        assert "CPU-only build" in planned[1].reason and torch.__version__ in planned[1].reason
    else:
        assert "torch.cuda.is_available() is False" in planned[1].reason


@pytest.mark.skipif(not CPU_ONLY, reason="checks the CPU-only path")
def test_numerics_check_is_skipped_without_a_gpu():
    check = compare_first_update(_config(), "cuda:0")
    assert check.status == "skip" and check.reason == device_problem("cuda:0")


def test_numerics_check_plumbing_with_the_cpu_as_device():
    check = compare_first_update(replace(_config(), hidden=16), FAKE_GPU)
    assert check.status == "pass"
    assert check.loss_abs_diff == 0.0 and check.grad_max_abs_diff == 0.0
    assert check.grad_scale > 0 and check.loss_cpu == check.loss_device


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


def test_peak_memory_sees_a_large_host_allocation():
    memory = PeakMemory()
    before = memory.host_mib()
    block = bytearray(200 * 1024 * 1024)
    block[::4096] = b"x" * len(block[::4096])  # touch every page so it is resident
    after = memory.host_mib()
    del block
    assert after >= before + 150
    assert memory.device_mib() is None


@pytest.mark.gpu
def test_real_gpu_placements_run_and_agree_with_the_cpu():
    planned = plan_placements(["cpu", "gpu", "split"], "cuda")
    assert all(isinstance(p, Placement) for p in planned), planned
    for placement in planned[1:]:
        result = train(_config(), placement)
        assert result.env_steps == 4096 and result.peak_device_mib and result.peak_device_mib > 0
    check = compare_first_update(_config(), "cuda")
    assert check.status == "pass", check


@pytest.mark.gpu
def test_a_missing_gpu_index_is_skipped_not_crashed():
    index = torch.cuda.device_count() + 3
    planned = plan_placements(["gpu"], f"cuda:{index}")
    assert isinstance(planned[0], Skipped) and "does not exist" in planned[0].reason
