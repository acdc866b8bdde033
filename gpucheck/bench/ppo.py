"""PPO (clipped objective, GAE) on Gymnasium's CartPole-v1, in one readable module.

Read it beside cleanrl's ``ppo.py``: the same order (config → ``layer_init`` → ``Agent`` → rollout → GAE →
update) and the same names (``gae_lambda``, ``clip_coef``, ``b_obs``, ``mb_inds``, ``pg_loss1/pg_loss2``).
Unlike cleanrl, every step is a function with unit tests and nothing runs at import.

The defaults are rl-zoo's CartPole-v1 hyperparameters for Stable-Baselines3 PPO (8 envs, 32 steps, batch 256,
20 epochs, gamma 0.98, gae_lambda 0.8, lr 1e-3 and clip 0.2 both decayed linearly to 0, no entropy bonus), so
``benchmarks/bench_smoke_vs_sb3.py`` compares like with like.

Where the ``cpu``, ``gpu`` and ``split`` placements differ, a ``# PLACEMENT:`` comment says so; which devices
are used is decided by :mod:`gpucheck.bench.placement`, never here.

Speed notes (measured on a 2-core CPU; figures in the README's bench-smoke section): the work is tiny, so
the cost is per-op overhead more than FLOPs. Hence: one numpy-vectorised environment (``CartPoleVectorEnv``),
one batched policy call per step under ``torch.inference_mode``, log-probabilities from ``log_softmax``
instead of ``torch.distributions``, GAE in numpy, actor and critic stacked into one batched matmul, the
update's gradient written out by hand (:func:`ppo_grads`, checked against autograd's) and a one-tensor Adam,
and one torch thread.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from gpucheck.bench.placement import Placement, sync_weights
from gpucheck.bench.timing import PeakMemory, PhaseTimer

SOLVED_RETURN = 475.0
"""CartPole-v1's own ``reward_threshold``: an evaluation mean at or above it counts as solved."""


@dataclass(frozen=True, slots=True)
class PPOConfig:
    """Everything that defines one training run (defaults: rl-zoo's CartPole-v1 PPO)."""

    env_id: str = "CartPole-v1"
    """The Gymnasium environment id."""
    seed: int = 1
    """Seeds torch and the environments, so the same seed gives the same returns on the CPU."""
    total_timesteps: int = 100_000
    """Environment-step budget; the learning rate and clip range decay linearly to 0 over it."""
    num_envs: int = 8
    """Parallel environments in the vector env."""
    num_steps: int = 32
    """Steps per environment per rollout (rollout size = num_envs * num_steps)."""
    hidden: int = 64
    """Width of both hidden layers of the actor and of the critic."""
    learning_rate: float = 1e-3
    """Adam's initial learning rate."""
    anneal: bool = True
    """Decay the learning rate and the clip range linearly to 0 over ``total_timesteps`` (rl-zoo's lin_)."""
    gamma: float = 0.98
    """Discount factor."""
    gae_lambda: float = 0.8
    """Lambda of generalised advantage estimation."""
    minibatch_size: int = 256
    """Samples per gradient step."""
    update_epochs: int = 20
    """Passes over each rollout."""
    norm_adv: bool = True
    """Normalise advantages per minibatch."""
    clip_coef: float = 0.2
    """Initial surrogate clipping coefficient."""
    ent_coef: float = 0.0
    """Entropy bonus coefficient."""
    vf_coef: float = 0.5
    """Value-loss coefficient."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip."""
    eval_every: int = 4096
    """Evaluate the deterministic policy every this many environment steps (and at the end)."""
    eval_episodes: int = 10
    """Episodes per evaluation (run in parallel, one per environment copy)."""
    early_stop: bool = True
    """Stop as soon as an evaluation solves the task."""
    torch_threads: int = 1
    """torch intra-op threads; one is fastest for these tiny matrices and keeps results reproducible."""

    @property
    def batch_size(self) -> int:
        """Transitions per rollout."""
        return self.num_envs * self.num_steps

    @property
    def num_iterations(self) -> int:
        """Rollout + update cycles that fit in the step budget."""
        return max(1, self.total_timesteps // self.batch_size)


class ConfigError(ValueError):
    """A configuration that cannot train (raised before anything runs)."""


def validate(config: PPOConfig) -> None:
    """Raise :class:`ConfigError` for values PPO cannot run with."""
    positive = (
        "total_timesteps",
        "num_envs",
        "num_steps",
        "hidden",
        "minibatch_size",
        "update_epochs",
        "eval_every",
        "eval_episodes",
        "torch_threads",
    )
    for name in positive:
        if getattr(config, name) < 1:
            raise ConfigError(f"{name} must be at least 1, got {getattr(config, name)}")
    if not 0.0 < config.gamma <= 1.0 or not 0.0 <= config.gae_lambda <= 1.0:
        raise ConfigError("gamma must be in (0, 1] and gae_lambda in [0, 1]")


# ---------------------------------------------------------------------------------------------------------
# Environment
# ---------------------------------------------------------------------------------------------------------


def make_envs(env_id: str, num_envs: int) -> gym.vector.VectorEnv:
    """Gymnasium's own vector env: the native numpy-batched one where the env has it, else a SyncVectorEnv.

    Both auto-reset in ``NEXT_STEP`` mode: the step after an episode ends only resets that copy (its action is
    ignored, its reward is 0), which :func:`collect_rollout` masks out of training.
    """
    try:
        return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point")
    except (gym.error.Error, ValueError, TypeError):
        # NOTE: envs without a vector_entry_point (anything but CartPole among the classic ones).
        return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="sync")


# ---------------------------------------------------------------------------------------------------------
# Agent
# ---------------------------------------------------------------------------------------------------------


def layer_init(
    weight: torch.Tensor, bias: torch.Tensor, std: float = math.sqrt(2), bias_const: float = 0.0
) -> None:
    """Orthogonal weights with gain ``std`` and constant bias (cleanrl's and SB3's initialisation).

    ``weight`` is a ``(out, in)`` view, as nn.Linear's weight, so the draw matches a Linear layer's.
    """
    drawn = torch.empty(weight.shape)
    nn.init.orthogonal_(drawn, std)
    with torch.no_grad():
        weight.copy_(drawn)
        bias.fill_(bias_const)


PARAM_NAMES = ("w1", "b1", "w2", "b2", "w3", "b3")
"""The agent's tensors, in the order they are laid out in its flat parameter vector."""


class Agent(nn.Module):
    r"""Separate actor and critic MLPs (obs → hidden → hidden → out, tanh), as cleanrl and SB3's MlpPolicy.

    NOTE: two layout choices make the CPU update ~40 % cheaper, without changing the maths:
    - the towers share no weights but are stacked (index 0 = actor, 1 = critic) and evaluated with one
      ``baddbmm`` per layer: half the ops of two ``nn.Sequential``\ s. The critic's head is as wide as the
      actor's; only its output 0 is used, so the other outputs get zero gradient and Adam never moves them.
    - the hidden layers' weights are stored ``(in, out)`` (``h @ w``), the output layer's ``(out, in)``
      (``h @ w3ᵀ``): MKL's batched matmul is ~4x slower when the stored result has 2 columns.
    - every weight and bias is a view into one flat parameter vector (``flat``), so Adam and the gradient
      clip are a handful of ops on one tensor instead of a loop over twelve.
    """

    def __init__(self, obs_dim: int, n_actions: int, hidden: int) -> None:
        """Build and initialise both towers."""
        super().__init__()
        self.n_actions = n_actions
        self.shapes = {
            "w1": (2, obs_dim, hidden),
            "b1": (2, 1, hidden),
            "w2": (2, hidden, hidden),
            "b2": (2, 1, hidden),
            "w3": (2, n_actions, hidden),
            "b3": (2, 1, n_actions),
        }
        self.flat = nn.Parameter(torch.zeros(sum(math.prod(shape) for shape in self.shapes.values())))
        p = self.unflatten(self.flat.data)
        for tower, head_std in ((0, 0.01), (1, 1.0)):  # small actor head: a near-uniform initial policy
            layer_init(p["w1"][tower].T, p["b1"][tower])
            layer_init(p["w2"][tower].T, p["b2"][tower])
            layer_init(p["w3"][tower], p["b3"][tower], head_std)

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views of ``flat`` (the parameters, their gradient or an optimizer moment) shaped as the layers."""
        sizes = [math.prod(self.shapes[name]) for name in PARAM_NAMES]
        return {
            name: part.view(self.shapes[name])
            for name, part in zip(PARAM_NAMES, flat.split(sizes), strict=True)
        }

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(logits (B, n_actions), value (B,))`` for observations ``x (B, obs_dim)``."""
        p = self.unflatten(self.flat)
        h = torch.tanh(torch.baddbmm(p["b1"], x.unsqueeze(0).expand(2, -1, -1), p["w1"]))
        h = torch.tanh(torch.baddbmm(p["b2"], h, p["w2"]))
        out = torch.baddbmm(p["b3"], h, p["w3"].transpose(1, 2))
        return out[0], out[1, :, 0]

    def get_value(self, x: torch.Tensor) -> torch.Tensor:
        """The critic's estimate V(x)."""
        return self(x)[1]

    def get_action_and_value(
        self, x: torch.Tensor, action: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sample (or score) an action: ``(action, log_prob, entropy, value)``.

        The categorical distribution is computed by hand (``log_softmax`` + inverse-CDF sampling):
        ``torch.distributions.Categorical`` costs more than the network itself at these sizes.
        """
        logits, value = self(x)
        logp_all = torch.log_softmax(logits, dim=-1)
        if action is None:
            action = sample_categorical(logp_all)
        log_prob = logp_all.gather(1, action.unsqueeze(1)).squeeze(1)
        entropy = -(logp_all.exp() * logp_all).sum(dim=-1)
        return action, log_prob, entropy, value

    def greedy_action(self, x: torch.Tensor) -> torch.Tensor:
        """The deterministic policy used for evaluation: the most likely action."""
        return self(x)[0].argmax(dim=-1)


def sample_categorical(logp_all: torch.Tensor) -> torch.Tensor:
    """One action per row of log-probabilities, by inverse-CDF sampling (uses torch's global RNG)."""
    cdf = logp_all.exp().cumsum(dim=-1)
    u = torch.rand(cdf.shape[0], 1, device=cdf.device, dtype=cdf.dtype)
    return (cdf < u).sum(dim=-1).clamp_(max=logp_all.shape[-1] - 1)


# ---------------------------------------------------------------------------------------------------------
# Rollout
# ---------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Rollout:
    """One rollout's storage, ``(num_steps, num_envs, ...)``; allocated once and refilled every iteration."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    """The episode ended in a terminal state (no bootstrap)."""
    dones: np.ndarray
    """The episode ended, terminated or truncated (GAE does not run across it)."""
    valid: np.ndarray
    """False for the auto-reset step after an episode end: not a real transition, left out of the update."""
    logp_all: torch.Tensor
    """Log-probabilities of every action, ``(num_steps, num_envs, n_actions)``; the taken one is picked once
    per rollout in :func:`make_batch` rather than once per step."""
    values: torch.Tensor
    next_value: torch.Tensor | None = None
    """V of the observation after the last step (the bootstrap for the final row)."""

    @classmethod
    def allocate(
        cls, num_steps: int, num_envs: int, obs_dim: int, n_actions: int, device: torch.device
    ) -> Rollout:
        """Zeroed storage; torch parts live on the rollout device."""
        shape = (num_steps, num_envs)
        return cls(
            obs=np.zeros((*shape, obs_dim), dtype=np.float32),
            actions=np.zeros(shape, dtype=np.int64),
            rewards=np.zeros(shape, dtype=np.float32),
            terminated=np.zeros(shape, dtype=bool),
            dones=np.zeros(shape, dtype=bool),
            valid=np.zeros(shape, dtype=bool),
            logp_all=torch.zeros((*shape, n_actions), device=device),
            values=torch.zeros(shape, device=device),
        )


@dataclass(slots=True)
class EnvState:
    """What carries over between rollouts: the current observation and the auto-reset flags."""

    next_obs: np.ndarray
    resetting: np.ndarray
    """True where the previous step ended an episode, so the next step is an auto-reset."""
    episode_returns: np.ndarray
    """Running return of each environment's current episode."""
    finished_returns: list[float] = field(default_factory=list)
    """Returns of training episodes finished so far."""


def collect_rollout(
    envs: gym.vector.VectorEnv,
    policy: Agent,
    state: EnvState,
    buf: Rollout,
    device: torch.device,
    timer: PhaseTimer,
) -> None:
    """Run ``policy`` for ``num_steps`` steps in every environment, filling ``buf``, advancing ``state``."""
    for step in range(buf.obs.shape[0]):
        buf.obs[step] = state.next_obs
        buf.valid[step] = ~state.resetting
        # PLACEMENT: with the policy on a GPU ("gpu"), every step's observations go to the device and the
        # actions come back; on "cpu" and "split" both copies are no-ops.
        with timer.phase("transfer"):
            obs = torch.from_numpy(state.next_obs).to(device)
        with timer.phase("inference"), torch.inference_mode():
            logits, value = policy(obs)
            logp_all = torch.log_softmax(logits, dim=-1)
            action = sample_categorical(logp_all)
            buf.logp_all[step] = logp_all
            buf.values[step] = value
        with timer.phase("transfer"):
            actions = action.cpu().numpy()
        with timer.phase("env"):
            next_obs, reward, terminated, truncated, _ = envs.step(actions)
        buf.actions[step] = actions
        buf.rewards[step] = reward
        buf.terminated[step] = terminated
        buf.dones[step] = terminated | truncated
        _track_episodes(state, reward, buf.dones[step])
        state.next_obs = next_obs
        state.resetting = buf.dones[step].copy()
    with timer.phase("transfer"):
        obs = torch.from_numpy(state.next_obs).to(device)
    with timer.phase("inference"), torch.inference_mode():
        buf.next_value = policy.get_value(obs)


def _track_episodes(state: EnvState, reward: np.ndarray, dones: np.ndarray) -> None:
    """Accumulate training-episode returns (auto-reset steps have reward 0, so they add nothing)."""
    state.episode_returns += reward
    if dones.any():
        state.finished_returns.extend(state.episode_returns[dones].tolist())
        state.episode_returns[dones] = 0.0


# ---------------------------------------------------------------------------------------------------------
# Generalised advantage estimation
# ---------------------------------------------------------------------------------------------------------


def compute_gae(
    rewards: np.ndarray,
    values: np.ndarray,
    next_value: np.ndarray,
    terminated: np.ndarray,
    dones: np.ndarray,
    gamma: float,
    gae_lambda: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Advantages and returns, ``(num_steps, num_envs)`` each (Schulman et al. 2016, eq. 11-16).

    ``values[t + 1]`` (or ``next_value`` for the last row) is the value of the observation that step ``t``
    produced. With NEXT_STEP auto-reset that observation is the episode's final one, so a truncated episode
    is bootstrapped from the real V(s_final) and a terminated one from 0; GAE never crosses an episode end.
    """
    num_steps = rewards.shape[0]
    advantages = np.zeros_like(rewards, dtype=np.float32)
    lastgaelam = np.zeros_like(next_value, dtype=np.float32)
    for t in reversed(range(num_steps)):
        nextvalues = next_value if t == num_steps - 1 else values[t + 1]
        delta = rewards[t] + gamma * nextvalues * (1.0 - terminated[t]) - values[t]
        lastgaelam = delta + gamma * gae_lambda * (1.0 - dones[t]) * lastgaelam
        advantages[t] = lastgaelam
    return advantages, advantages + values


# ---------------------------------------------------------------------------------------------------------
# Loss and update
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Batch:
    """A flattened rollout on the update device, auto-reset steps removed (``b_`` in cleanrl's names)."""

    obs: torch.Tensor
    actions: torch.Tensor
    logprobs: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor

    def __len__(self) -> int:
        """Number of transitions."""
        return self.obs.shape[0]


def normalize(advantages: torch.Tensor) -> torch.Tensor:
    """Zero-mean, unit-variance advantages (left as they are for a single sample)."""
    if advantages.shape[0] < 2:
        return advantages
    return (advantages - advantages.mean()) / (advantages.std() + 1e-8)


def ppo_loss(
    agent: Agent,
    mb_obs: torch.Tensor,
    mb_actions: torch.Tensor,
    mb_logprobs: torch.Tensor,
    mb_advantages: torch.Tensor,
    mb_returns: torch.Tensor,
    clip_coef: float,
    config: PPOConfig,
    diagnostics: bool = False,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The PPO objective for one minibatch: ``(loss, parts)``.

    ``mb_advantages`` are used as given (normalise them first when ``config.norm_adv``). ``parts`` holds
    detached diagnostics, computed only when asked for: they cost as many ops as the loss itself.
    """
    logits, newvalue = agent(mb_obs)
    logp_all = torch.log_softmax(logits, dim=-1)
    newlogprob = logp_all.gather(1, mb_actions.unsqueeze(1)).squeeze(1)
    logratio = newlogprob - mb_logprobs
    ratio = logratio.exp()

    # Policy loss: the clipped surrogate objective, negated for gradient descent
    pg_loss1 = -mb_advantages * ratio
    pg_loss2 = -mb_advantages * torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef)
    pg_loss = torch.max(pg_loss1, pg_loss2).mean()

    # Value loss (unclipped, as SB3's default)
    v_loss = ((newvalue - mb_returns) ** 2).mean()

    loss = pg_loss + config.vf_coef * v_loss
    entropy = None
    if config.ent_coef or diagnostics:
        entropy = -(logp_all.exp() * logp_all).sum(dim=-1).mean()
    if config.ent_coef:  # NOTE: skipped at 0 (rl-zoo's value): the term would only add backward ops.
        loss = loss - config.ent_coef * entropy
    parts: dict[str, torch.Tensor] = {}
    if diagnostics:
        with torch.no_grad():
            parts = {
                "loss": loss.detach(),
                "pg_loss": pg_loss.detach(),
                "v_loss": v_loss.detach(),
                "entropy": entropy.detach(),
                "approx_kl": ((ratio - 1) - logratio).mean(),
                "clipfrac": ((ratio - 1.0).abs() > clip_coef).float().mean(),
            }
    return loss, parts


def ppo_grads(
    agent: Agent,
    mb_obs: torch.Tensor,
    mb_actions: torch.Tensor,
    mb_logprobs: torch.Tensor,
    mb_advantages: torch.Tensor,
    mb_returns: torch.Tensor,
    clip_coef: float,
    config: PPOConfig,
    diagnostics: bool = False,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The gradient of :func:`ppo_loss` by hand: ``(gradient of agent.flat, parts)``.

    The same numbers as ``torch.autograd.grad(ppo_loss(...))`` (``tests/bench/test_ppo.py`` checks it) for a
    third less CPU time: the network has three layers, so the chain rule is ten ops, while autograd's graph
    bookkeeping costs more than the arithmetic at these sizes. ``parts`` as in :func:`ppo_loss`.
    """
    n = mb_obs.shape[0]
    with torch.no_grad():
        # Forward, keeping the activations the backward pass needs
        p = agent.unflatten(agent.flat)
        x = mb_obs.unsqueeze(0).expand(2, -1, -1)
        h1 = _tanh_(torch.baddbmm(p["b1"], x, p["w1"]))
        h2 = _tanh_(torch.baddbmm(p["b2"], h1, p["w2"]))
        out = torch.baddbmm(p["b3"], h2, p["w3"].transpose(1, 2))
        logits, newvalue = out[0], out[1, :, 0]
        logp_all = torch.log_softmax(logits, dim=-1)
        probs = logp_all.exp()
        onehot = torch.zeros_like(logits).scatter_(1, mb_actions.unsqueeze(1), 1.0)
        newlogprob = (logp_all * onehot).sum(dim=-1)
        logratio = newlogprob - mb_logprobs
        ratio = logratio.exp()
        neg_advantages = -mb_advantages
        pg_loss1 = neg_advantages * ratio
        pg_loss2 = neg_advantages * torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef)

        # d loss / d outputs. The surrogate's gradient flows only where the unclipped term is the max, and
        # there d(-A * ratio)/d logprob = -A * ratio = pg_loss1; d logprob / d logits = onehot - probs.
        d_logprob = torch.where(pg_loss1 >= pg_loss2, pg_loss1, 0.0) / n
        d_logits = d_logprob.unsqueeze(1) * (onehot - probs)
        entropy = -(probs * logp_all).sum(dim=-1) if config.ent_coef or diagnostics else None
        if config.ent_coef:  # d(-c * mean H)/d logits = c/n * p * (log p + H)
            d_logits += (config.ent_coef / n) * probs * (logp_all + entropy.unsqueeze(1))
        d_out = torch.zeros_like(out)
        d_out[0] = d_logits
        d_out[1, :, 0] = (2.0 * config.vf_coef / n) * (newvalue - mb_returns)

        # Backward through the three layers, writing straight into the flat gradient's views;
        # tanh_backward(g, y) = g * (1 - y²), one op instead of three
        grad = torch.empty_like(agent.flat)
        g = agent.unflatten(grad)
        d_a2 = torch.ops.aten.tanh_backward(torch.bmm(d_out, p["w3"]), h2)
        d_a1 = torch.ops.aten.tanh_backward(torch.bmm(d_a2, p["w2"].transpose(1, 2)), h1)
        torch.bmm(d_out.transpose(1, 2), h2, out=g["w3"])
        torch.sum(d_out, dim=1, keepdim=True, out=g["b3"])
        torch.bmm(h1.transpose(1, 2), d_a2, out=g["w2"])
        torch.sum(d_a2, dim=1, keepdim=True, out=g["b2"])
        torch.bmm(x.transpose(1, 2), d_a1, out=g["w1"])
        torch.sum(d_a1, dim=1, keepdim=True, out=g["b1"])
        parts: dict[str, torch.Tensor] = {}
        if diagnostics:
            pg_loss = torch.max(pg_loss1, pg_loss2).mean()
            v_loss = ((newvalue - mb_returns) ** 2).mean()
            parts = {
                "loss": pg_loss + config.vf_coef * v_loss - config.ent_coef * entropy.mean(),
                "pg_loss": pg_loss,
                "v_loss": v_loss,
                "entropy": entropy.mean(),
                "approx_kl": ((ratio - 1) - logratio).mean(),
                "clipfrac": ((ratio - 1.0).abs() > clip_coef).float().mean(),
            }
    return grad, parts


def _tanh_(x: torch.Tensor) -> torch.Tensor:
    """Tanh in place, as 2·sigmoid(2x) - 1 (equal to 2e-7).

    NOTE: torch 2.13's CPU tanh kernel is ~3x slower than its sigmoid (measured on AVX2); the activations are
    a fifth of an update's time.
    """
    return torch.sigmoid_(x.mul_(2)).mul_(2).sub_(1)


def clip_grad_norm_(grad: torch.Tensor, max_norm: float) -> torch.Tensor:
    """Scale ``grad`` in place so its L2 norm is at most ``max_norm`` (``nn.utils.clip_grad_norm_``'s maths).

    Returns the norm before clipping.
    """
    total = torch.linalg.vector_norm(grad)
    grad.mul_(torch.clamp(max_norm / (total + 1e-6), max=1.0))
    return total


class Adam:
    """Adam (Kingma & Ba 2015) for one flat parameter tensor, with the arithmetic of ``torch.optim.Adam``.

    NOTE: ``torch.optim.Adam.step`` spends ~130 µs per call on hooks and state handling around a ~15 µs
    kernel, a seventh of a minibatch step here. ``tests/bench/test_ppo.py`` checks this against torch's.
    """

    def __init__(
        self, param: torch.Tensor, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-5
    ) -> None:
        """Zero moments; ``eps`` defaults to SB3's."""
        self.param, self.lr, self.betas, self.eps = param, lr, betas, eps
        self.exp_avg = torch.zeros_like(param)
        self.exp_avg_sq = torch.zeros_like(param)
        self.steps = 0

    def step(self, grad: torch.Tensor) -> None:
        """Apply one update with ``grad``."""
        beta1, beta2 = self.betas
        self.steps += 1
        with torch.no_grad():
            self.exp_avg.lerp_(grad, 1 - beta1)
            self.exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            denom = (self.exp_avg_sq.sqrt() / math.sqrt(1 - beta2**self.steps)).add_(self.eps)
            self.param.addcdiv_(self.exp_avg, denom, value=-self.lr / (1 - beta1**self.steps))


def update(
    agent: Agent, optimizer: Adam, batch: Batch, config: PPOConfig, clip_coef: float
) -> dict[str, float]:
    """``update_epochs`` passes of minibatch gradient steps.

    Returns the diagnostics of the first minibatch (``loss`` there is computed from the rollout's weights,
    before any step) and of the last (prefixed ``last_``).
    """
    n = len(batch)
    whole = n <= config.minibatch_size
    # NOTE: a minibatch that covers the whole batch needs no shuffling (the mean is order-free), and its
    # normalised advantages are the same every epoch.
    b_advantages = normalize(batch.advantages) if whole and config.norm_adv else batch.advantages
    stats: dict[str, float] = {}
    num_minibatches = math.ceil(n / config.minibatch_size)
    for epoch in range(config.update_epochs):
        b_inds = None if whole else torch.randperm(n, device=batch.obs.device)
        for k, start in enumerate(range(0, n, config.minibatch_size)):
            mb_inds = slice(None) if b_inds is None else b_inds[start : start + config.minibatch_size]
            mb_advantages = b_advantages[mb_inds]
            if config.norm_adv and not whole:
                mb_advantages = normalize(mb_advantages)
            first = epoch == 0 and k == 0
            last = epoch == config.update_epochs - 1 and k == num_minibatches - 1
            grad, parts = ppo_grads(
                agent,
                batch.obs[mb_inds],
                batch.actions[mb_inds],
                batch.logprobs[mb_inds],
                mb_advantages,
                batch.returns[mb_inds],
                clip_coef,
                config,
                first or last,
            )
            if first:
                stats.update({name: float(value) for name, value in parts.items()})
            if last:
                stats.update({f"last_{name}": float(value) for name, value in parts.items()})
            clip_grad_norm_(grad, config.max_grad_norm)
            optimizer.step(grad)
    return stats


def make_batch(buf: Rollout, advantages: np.ndarray, returns: np.ndarray, device: torch.device) -> Batch:
    """Flatten the rollout, drop auto-reset steps and move it to the update device (``b_obs`` ...)."""
    keep = np.flatnonzero(buf.valid.reshape(-1))
    rollout_device = buf.logp_all.device
    actions = torch.from_numpy(buf.actions.reshape(-1)[keep]).to(rollout_device)
    logprobs = buf.logp_all.reshape(-1, buf.logp_all.shape[-1])[torch.from_numpy(keep).to(rollout_device)]

    def to_device(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array.reshape(-1, *array.shape[2:])[keep])).to(device)

    return Batch(
        obs=to_device(buf.obs),
        actions=to_device(buf.actions),
        logprobs=logprobs.gather(1, actions.unsqueeze(1)).squeeze(1).to(device),
        advantages=to_device(advantages),
        returns=to_device(returns),
    )


# ---------------------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------------------


def evaluate(policy: Agent, env_id: str, episodes: int, seed: int, device: torch.device) -> list[float]:
    """Returns of ``episodes`` episodes of the greedy policy, one per environment copy, from fixed seeds."""
    envs = make_envs(env_id, episodes)
    obs, _ = envs.reset(seed=seed)
    returns = np.zeros(episodes, dtype=np.float64)
    running = np.ones(episodes, dtype=bool)
    with torch.inference_mode():
        while running.any():
            actions = policy.greedy_action(torch.from_numpy(obs).to(device)).cpu().numpy()
            obs, reward, terminated, truncated, _ = envs.step(actions)
            returns += reward * running
            running &= ~(terminated | truncated)
    envs.close()
    return returns.tolist()


# ---------------------------------------------------------------------------------------------------------
# Training loop
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EvalPoint:
    """One evaluation during training."""

    env_steps: int
    """Environment steps done when it ran."""
    wall_s: float
    """Seconds since training started."""
    mean_return: float
    """Mean return of the deterministic policy over ``eval_episodes`` episodes."""


@dataclass(frozen=True, slots=True)
class TrainResult:
    """What one training run measured."""

    env_steps: int
    wall_s: float
    phases: dict[str, float]
    """Seconds per phase: env, inference, transfer, update, eval, other (sums to ``wall_s``)."""
    curve: tuple[EvalPoint, ...]
    eval_returns: tuple[float, ...]
    """The last evaluation's episode returns."""
    solved_at: EvalPoint | None
    """The first evaluation with a mean at or above :data:`SOLVED_RETURN`."""
    first_update_loss: float
    train_episode_returns: tuple[float, ...]
    peak_host_mib: float | None
    peak_device_mib: float | None

    @property
    def eval_mean(self) -> float:
        """Mean of the last evaluation."""
        return float(np.mean(self.eval_returns)) if self.eval_returns else float("nan")

    @property
    def solved(self) -> bool:
        """Whether any evaluation reached the solved threshold."""
        return self.solved_at is not None

    @property
    def steps_per_s(self) -> float:
        """Environment steps per second of training (wall time minus evaluation)."""
        busy = self.wall_s - self.phases.get("eval", 0.0)
        return self.env_steps / busy if busy > 0 else float("nan")


ProgressFn = Callable[[int, int, "EvalPoint | None"], None]
"""Called after every iteration with ``(env_steps_done, env_steps_total, latest_eval)``."""


def train(config: PPOConfig, placement: Placement, on_progress: ProgressFn | None = None) -> TrainResult:
    """Train PPO under ``placement`` and measure where the time goes."""
    validate(config)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(config.torch_threads)
    try:
        return _train(config, placement, on_progress)
    finally:
        torch.set_num_threads(previous_threads)


def _train(config: PPOConfig, placement: Placement, on_progress: ProgressFn | None) -> TrainResult:
    torch.manual_seed(config.seed)
    rollout_device, update_device = (
        torch.device(placement.rollout_device),
        torch.device(placement.update_device),
    )
    memory = PeakMemory(update_device if update_device.type != "cpu" else None)
    timer = PhaseTimer(sync=placement.synchronizer())
    envs = make_envs(config.env_id, config.num_envs)
    obs_dim, n_actions = envs.single_observation_space.shape[0], int(envs.single_action_space.n)

    # PLACEMENT: the learner lives on the update device; "split" acts with a CPU copy synced once per update.
    agent = Agent(obs_dim, n_actions, config.hidden).to(update_device)
    policy = copy.deepcopy(agent).to(rollout_device) if placement.separate_policy else agent
    optimizer = Adam(agent.flat, config.learning_rate)
    buf = Rollout.allocate(config.num_steps, config.num_envs, obs_dim, n_actions, rollout_device)
    next_obs, _ = envs.reset(seed=config.seed)
    state = EnvState(next_obs, np.zeros(config.num_envs, bool), np.zeros(config.num_envs, np.float32))

    curve: list[EvalPoint] = []
    eval_returns: list[float] = []
    first_loss, env_steps, next_eval = float("nan"), 0, config.eval_every
    start = time.perf_counter()
    for iteration in range(1, config.num_iterations + 1):
        collect_rollout(envs, policy, state, buf, rollout_device, timer)
        env_steps += config.batch_size
        frac = 1.0 - env_steps / config.total_timesteps if config.anneal else 1.0
        with timer.phase("transfer"):
            values = buf.values.cpu().numpy()
            next_value = buf.next_value.cpu().numpy()
        with timer.phase("update"):
            advantages, returns = compute_gae(
                buf.rewards, values, next_value, buf.terminated, buf.dones, config.gamma, config.gae_lambda
            )
        with timer.phase("transfer"):
            batch = make_batch(buf, advantages, returns, update_device)
        with timer.phase("update"):
            optimizer.lr = frac * config.learning_rate
            stats = update(agent, optimizer, batch, config, frac * config.clip_coef)
        first_loss = stats["loss"] if iteration == 1 else first_loss
        if placement.separate_policy:
            with timer.phase("transfer"):
                sync_weights(agent, policy)
        latest = None
        if env_steps >= next_eval or iteration == config.num_iterations:
            next_eval += config.eval_every
            with timer.phase("eval"):
                eval_returns = evaluate(
                    policy, config.env_id, config.eval_episodes, config.seed + 10_000, rollout_device
                )
            latest = EvalPoint(env_steps, time.perf_counter() - start, float(np.mean(eval_returns)))
            curve.append(latest)
        if on_progress is not None:
            on_progress(env_steps, config.num_iterations * config.batch_size, latest)
        if config.early_stop and latest is not None and latest.mean_return >= SOLVED_RETURN:
            break
    wall = time.perf_counter() - start
    envs.close()
    solved_at = next((p for p in curve if p.mean_return >= SOLVED_RETURN), None)
    return TrainResult(
        env_steps=env_steps,
        wall_s=wall,
        phases=timer.totals(wall),
        curve=tuple(curve),
        eval_returns=tuple(eval_returns),
        solved_at=solved_at,
        first_update_loss=first_loss,
        train_episode_returns=tuple(state.finished_returns),
        peak_host_mib=memory.host_mib(),
        peak_device_mib=memory.device_mib(),
    )
