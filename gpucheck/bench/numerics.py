"""The GPU numerics check: the first update's loss and gradient on the CPU and on the device must agree.

Both sides start from the same weights and the same batch (one rollout collected on the CPU), with TF32 off,
so any difference beyond float32 rounding means the device computes something else (a broken kernel, a
driver bug, reduced precision sneaking in). Silently wrong GPU maths would otherwise show up only as a
worse return.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from gpucheck.bench.placement import device_problem
from gpucheck.bench.ppo import (
    Agent,
    Batch,
    EnvState,
    PPOConfig,
    Rollout,
    collect_rollout,
    compute_gae,
    make_batch,
    make_envs,
    normalize,
    ppo_grads,
    ppo_loss,
)
from gpucheck.bench.timing import PhaseTimer

RTOL = 1e-4
"""Relative tolerance. float32 reductions over a 256-sample batch in a different order differ by ~1e-6
relative; TF32 (10-bit mantissa) would show up at ~1e-3."""
ATOL = 1e-6
"""Absolute tolerance, for values near zero."""


@dataclass(frozen=True, slots=True)
class NumericsCheck:
    """The outcome of comparing the first update on the CPU and on ``device``."""

    status: str
    """``pass``, ``fail`` (outside tolerance) or ``skip`` (no device to compare; ``reason`` says why)."""
    device: str | None = None
    loss_cpu: float | None = None
    """The PPO loss of the first minibatch of the first update, computed on the CPU."""
    loss_device: float | None = None
    """The same, computed on ``device``."""
    loss_abs_diff: float | None = None
    grad_max_abs_diff: float | None = None
    """Largest absolute difference between the two hand-computed gradients."""
    grad_scale: float | None = None
    """Largest absolute CPU gradient entry (the scale the relative tolerance applies to)."""
    rtol: float = RTOL
    atol: float = ATOL
    reason: str | None = None


def first_update_inputs(config: PPOConfig) -> tuple[Agent, Batch, PPOConfig]:
    """A freshly initialised CPU agent and the batch of its first rollout (advantages normalised)."""
    torch.manual_seed(config.seed)
    envs = make_envs(config.env_id, config.num_envs)
    obs_dim, n_actions = envs.single_observation_space.shape[0], int(envs.single_action_space.n)
    agent = Agent(obs_dim, n_actions, config.hidden)
    cpu = torch.device("cpu")
    buf = Rollout.allocate(config.num_steps, config.num_envs, obs_dim, n_actions, cpu)
    next_obs, _ = envs.reset(seed=config.seed)
    state = EnvState(next_obs, np.zeros(config.num_envs, bool), np.zeros(config.num_envs, np.float32))
    collect_rollout(envs, agent, state, buf, cpu, PhaseTimer())
    envs.close()
    advantages, returns = compute_gae(
        buf.rewards,
        buf.values.numpy(),
        buf.next_value.numpy(),
        buf.terminated,
        buf.dones,
        config.gamma,
        config.gae_lambda,
    )
    batch = make_batch(buf, advantages, returns, cpu)
    if config.norm_adv:
        batch = Batch(batch.obs, batch.actions, batch.logprobs, normalize(batch.advantages), batch.returns)
    return agent, batch, config


def _first_minibatch(agent: Agent, batch: Batch, config: PPOConfig) -> tuple[float, torch.Tensor]:
    mb = slice(0, config.minibatch_size)
    args = (batch.obs[mb], batch.actions[mb], batch.logprobs[mb], batch.advantages[mb], batch.returns[mb])
    loss, _ = ppo_loss(agent, *args, config.clip_coef, config)
    grad, _ = ppo_grads(agent, *args, config.clip_coef, config)
    return float(loss), grad.cpu()


def compare_first_update(config: PPOConfig, device: str) -> NumericsCheck:
    """Compute the first update's loss and gradient on the CPU and on ``device`` and compare them."""
    problem = device_problem(device) if torch.device(device).type == "cuda" else None
    if problem is not None:
        return NumericsCheck("skip", device=device, reason=problem)
    agent, batch, config = first_update_inputs(config)
    on_device = copy.deepcopy(agent).to(device)
    batch_on_device = Batch(
        *(t.to(device) for t in (batch.obs, batch.actions, batch.logprobs, batch.advantages, batch.returns))
    )
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")  # TF32 off: the comparison is float32 against float32
    try:
        with torch.no_grad():
            loss_cpu, grad_cpu = _first_minibatch(agent, batch, config)
            loss_dev, grad_dev = _first_minibatch(on_device, batch_on_device, config)
    finally:
        torch.set_float32_matmul_precision(previous)
    loss_diff = abs(loss_cpu - loss_dev)
    grad_diff = float((grad_cpu - grad_dev).abs().max())
    grad_scale = float(grad_cpu.abs().max())
    ok = loss_diff <= ATOL + RTOL * abs(loss_cpu) and grad_diff <= ATOL + RTOL * grad_scale
    return NumericsCheck(
        "pass" if ok else "fail",
        device=device,
        loss_cpu=loss_cpu,
        loss_device=loss_dev,
        loss_abs_diff=loss_diff,
        grad_max_abs_diff=grad_diff,
        grad_scale=grad_scale,
    )
