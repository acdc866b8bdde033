"""The GPU numerics check: the standard training step on the CPU and on the device must agree.

Both sides start from the same weights and the same first minibatch (one rollout collected on the CPU) and
run exactly what training runs: the PPO loss, autograd's backward, ``clip_grad_norm_`` and one step of each
side's ``torch.optim.Adam`` (fused on both where available). Compared are the loss, every parameter's
gradient and the parameters after the step. The tolerances follow from the matmul precision each side
really uses (:mod:`gpucheck.bench.precision`), so TF32 — set, inherited or forced by the environment — is
neither a false alarm nor hidden; a broken kernel, a driver bug or a wrong reduction is far outside them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from gpucheck.bench.envs import GymVectorEnv
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
    make_optimizer,
    ppo_loss,
)
from gpucheck.bench.precision import MatmulPrecision, active_matmul_precision, describe, relative_tolerance
from gpucheck.bench.timing import PhaseTimer

F32_U = 2.0**-24


@dataclass(frozen=True, slots=True)
class NumericsCheck:
    """The outcome of comparing one training step on the CPU and on ``device``."""

    status: str
    """``pass``, ``fail`` (outside tolerance), ``skip`` (no device; ``reason`` says why) or ``error``."""
    device: str | None = None
    precision: str | None = None
    """The device's matmul precision and what decided it (:func:`gpucheck.bench.precision.describe`)."""
    rtol: float | None = None
    """The relative tolerance derived from both sides' precision (c·√K·Σu)."""
    loss_cpu: float | None = None
    loss_device: float | None = None
    loss_abs_diff: float | None = None
    loss_tol: float | None = None
    grad_max_abs_diff: float | None = None
    grad_worst_ratio: float | None = None
    """Largest |diff| / tolerance over all gradient tensors (≤ 1 passes)."""
    step_max_abs_diff: float | None = None
    """Largest difference between the parameters after one optimizer step."""
    step_worst_ratio: float | None = None
    """Largest |diff| / bound over all parameters after the step (≤ 1 passes)."""
    optimizer_cpu: str | None = None
    optimizer_device: str | None = None
    reason: str | None = None


def first_update_inputs(config: PPOConfig) -> tuple[Agent, Batch]:
    """A freshly initialised CPU agent and the batch of its first rollout on Gymnasium's CartPole."""
    torch.manual_seed(config.seed)
    cpu = torch.device("cpu")
    timer = PhaseTimer()
    envs = GymVectorEnv(config.env_id, config.num_envs, cpu, timer)
    agent = Agent(envs.obs_dim, envs.n_actions, config.hidden, config.depth, config.activation)
    buf = Rollout.allocate(config.num_steps, config.num_envs, envs.obs_dim, cpu)
    state = EnvState.start(envs.reset(seed=config.seed))
    collect_rollout(envs, agent, state, buf, timer)
    envs.close()
    advantages, returns = compute_gae(
        buf.rewards, buf.values, buf.next_value, buf.terminated, buf.dones, config.gamma, config.gae_lambda
    )
    return agent, make_batch(buf, advantages, returns, cpu)


@dataclass(frozen=True, slots=True)
class _Step:
    loss: float
    loss_scale: float
    grads: list[torch.Tensor]
    clipped: list[torch.Tensor]
    before: list[torch.Tensor]
    after: list[torch.Tensor]
    optimizer: str


def one_step(agent: Agent, batch: Batch, config: PPOConfig) -> _Step:
    """The first minibatch's loss, gradient and Adam step on the agent's device (all copied to the CPU)."""
    mb = slice(0, config.minibatch_size)
    params = list(agent.parameters())
    optimizer, info = make_optimizer(params, config.learning_rate, config.adam_eps)
    loss, parts = ppo_loss(
        agent,
        batch.obs[mb],
        batch.actions[mb],
        batch.logprobs[mb],
        batch.advantages[mb],
        batch.returns[mb],
        config.clip_coef,
        config,
    )
    optimizer.zero_grad()
    loss.backward()
    grads = [p.grad.detach().cpu().clone() for p in params]
    nn.utils.clip_grad_norm_(params, config.max_grad_norm, foreach=True)
    clipped = [p.grad.detach().cpu().clone() for p in params]
    before = [p.detach().cpu().clone() for p in params]
    optimizer.step()
    scale = float(parts["pg_loss"].abs() + config.vf_coef * parts["v_loss"].abs())
    scale += config.ent_coef * float(parts["entropy"].abs())
    return _Step(
        float(loss.detach()),
        scale,
        grads,
        clipped,
        before,
        [p.detach().cpu().clone() for p in params],
        info.implementation,
    )


def compare_first_update(config: PPOConfig, device: str) -> NumericsCheck:
    """Run the first training step on the CPU and on ``device`` and compare loss, gradients and step."""
    if torch.device(device).type == "cuda":
        problem = device_problem(device)
        if problem is not None:
            return NumericsCheck("skip", device=device, reason=problem)
    agent, batch = first_update_inputs(config)
    precision = active_matmul_precision(device)
    cpu_precision = active_matmul_precision("cpu")
    k = max(min(config.minibatch_size, len(batch)), config.hidden, agent.actor[0].in_features)
    rtol = relative_tolerance(k, precision, cpu_precision)
    cpu = one_step(copy.deepcopy(agent), batch, config)
    dev = one_step(copy.deepcopy(agent).to(device), batch.to(device), config)
    return judge(cpu, dev, rtol, config, device, precision)


def judge(
    cpu: _Step, dev: _Step, rtol: float, config: PPOConfig, device: str, precision: MatmulPrecision
) -> NumericsCheck:
    """Compare two steps against tolerances derived from ``rtol``."""
    loss_diff = abs(cpu.loss - dev.loss)
    loss_tol = rtol * max(cpu.loss_scale, abs(cpu.loss)) + F32_U
    grad_diff, grad_ratio = 0.0, 0.0
    grad_tols = []
    for g_cpu, g_dev in zip(cpu.grads, dev.grads, strict=True):
        tol = rtol * float(g_cpu.abs().max()) + 1e-12
        diff = float((g_cpu - g_dev).abs().max())
        grad_tols.append(tol)
        grad_diff, grad_ratio = max(grad_diff, diff), max(grad_ratio, diff / tol)
    step_diff, step_ratio = 0.0, 0.0
    lr, eps = config.learning_rate, config.adam_eps
    for gc, tol, p0, p_cpu, p_dev in zip(
        cpu.clipped, grad_tols, cpu.before, cpu.after, dev.after, strict=True
    ):
        # Adam's first step moves each weight by lr·g/(|g| + eps). A gradient error e moves it by at most
        # lr·eps·e/(|g| - e + eps)² (the derivative's largest value within the error), plus float32 rounding
        # of the weight and of the step itself.
        e = tol + rtol * gc.abs()
        slack = (gc.abs() - e).clamp(min=0.0) + eps
        # A step can never differ by more than 2·lr (opposite signs), which caps gradients lost in the noise.
        moved = (lr * eps * e / slack**2).clamp(max=2 * lr)
        bound = moved + 4 * F32_U * (p0.abs() + lr)
        diff = (p_cpu - p_dev).abs()
        step_diff = max(step_diff, float(diff.max()))
        step_ratio = max(step_ratio, float((diff / bound).max()))
    ok = loss_diff <= loss_tol and grad_ratio <= 1.0 and step_ratio <= 1.0
    return NumericsCheck(
        "pass" if ok else "fail",
        device=device,
        precision=describe(precision),
        rtol=rtol,
        loss_cpu=cpu.loss,
        loss_device=dev.loss,
        loss_abs_diff=loss_diff,
        loss_tol=loss_tol,
        grad_max_abs_diff=grad_diff,
        grad_worst_ratio=grad_ratio,
        step_max_abs_diff=step_diff,
        step_worst_ratio=step_ratio,
        optimizer_cpu=cpu.optimizer,
        optimizer_device=dev.optimizer,
    )


def skipped(reason: str) -> NumericsCheck:
    """A check that did not run."""
    return NumericsCheck("skip", reason=reason)
