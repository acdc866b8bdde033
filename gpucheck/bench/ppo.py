"""PPO (clipped objective, GAE) on CartPole-v1, written the way people write it: standard PyTorch.

Read it beside cleanrl's ``ppo.py``: the same order (config → ``layer_init`` → ``Agent`` → rollout → GAE →
update) and the same names (``gae_lambda``, ``clip_coef``, ``b_obs``, ``mb_inds``, ``pg_loss1/pg_loss2``,
``get_action_and_value``). The actor and the critic are ``nn.Sequential`` towers of ``nn.Linear`` layers, the
policy is a ``torch.distributions.Categorical``, the gradient comes from autograd and the step from
``torch.optim.Adam`` (fused where this torch has the kernel for the device, else foreach; which one ran is
reported). Unlike cleanrl, every step is a function with unit tests and nothing runs at import.

The defaults are rl-zoo's CartPole-v1 hyperparameters for Stable-Baselines3 PPO (8 envs, 32 steps, one
minibatch of the whole 256-step rollout, 20 epochs, gamma 0.98, gae_lambda 0.8, lr 1e-3 and clip 0.2 both
decayed linearly to 0, no entropy bonus), so ``benchmarks/bench_smoke_vs_sb3.py`` compares like with like.
With more environments the rollout grows and, as in cleanrl, the number of minibatches stays fixed.

Where the placements differ, a ``# PLACEMENT:`` comment says so; which devices are used is decided by
:mod:`gpucheck.bench.placement`, never here.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical

from gpucheck.bench.envs import GymVectorEnv, TorchCartPole, make_gym_vector_env
from gpucheck.bench.placement import Placement, sync_weights
from gpucheck.bench.timing import PeakMemory, PhaseTimer

SOLVED_RETURN = 475.0
"""CartPole-v1's own ``reward_threshold``: an evaluation mean at or above it counts as solved."""

ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU, "gelu": nn.GELU}
"""``--activation`` choices; tanh is cleanrl's and SB3's."""


@dataclass(frozen=True, slots=True)
class PPOConfig:
    """Everything that defines one training run (defaults: rl-zoo's CartPole-v1 PPO)."""

    env_id: str = "CartPole-v1"
    """The Gymnasium environment id (``gpu-env`` always runs its own torch CartPole-v1)."""
    seed: int = 1
    """Seeds torch and the environments, so the same seed gives the same returns on the CPU."""
    total_timesteps: int = 100_000
    """Environment-step budget; the learning rate and clip range decay linearly to 0 over it."""
    num_envs: int = 8
    """Parallel environments in the vector env."""
    num_steps: int = 32
    """Steps per environment per rollout (rollout size = num_envs * num_steps)."""
    hidden: int = 64
    """Width of every hidden layer of the actor and of the critic."""
    depth: int = 2
    """Hidden layers per tower."""
    activation: str = "tanh"
    """Hidden-layer activation, a key of :data:`ACTIVATIONS`."""
    learning_rate: float = 1e-3
    """Adam's initial learning rate."""
    anneal: bool = True
    """Decay the learning rate and the clip range linearly to 0 over ``total_timesteps`` (rl-zoo's lin_)."""
    gamma: float = 0.98
    """Discount factor."""
    gae_lambda: float = 0.8
    """Lambda of generalised advantage estimation."""
    num_minibatches: int = 1
    """Minibatches per epoch (rl-zoo's batch_size 256 = the whole 8 x 32 rollout)."""
    update_epochs: int = 20
    """Passes over each rollout."""
    norm_adv: bool = True
    """Normalise advantages per minibatch."""
    clip_coef: float = 0.2
    """Initial surrogate clipping coefficient."""
    ent_coef: float = 0.0
    """Entropy bonus coefficient."""
    vf_coef: float = 0.5
    """Value-loss coefficient (on the plain squared error, as SB3; cleanrl halves it first)."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip."""
    adam_eps: float = 1e-5
    """Adam's epsilon (SB3's and cleanrl's)."""
    evaluate: bool = True
    """Evaluate during training (off for throughput windows)."""
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
    def minibatch_size(self) -> int:
        """Samples per gradient step (a full rollout has batch_size; auto-reset steps are dropped)."""
        return max(1, self.batch_size // self.num_minibatches)

    @property
    def num_iterations(self) -> int:
        """Rollout + update cycles in the step budget (validate() rejects a budget below one rollout)."""
        return self.total_timesteps // self.batch_size


class ConfigError(ValueError):
    """A configuration that cannot train (raised before anything runs)."""


def validate(config: PPOConfig) -> None:
    """Raise :class:`ConfigError` for values PPO cannot run with."""
    positive = (
        "num_envs",
        "num_steps",
        "hidden",
        "depth",
        "num_minibatches",
        "update_epochs",
        "eval_every",
        "eval_episodes",
        "torch_threads",
    )
    for name in positive:
        if getattr(config, name) < 1:
            raise ConfigError(f"{name} must be at least 1, got {getattr(config, name)}")
    if config.total_timesteps < config.batch_size:
        raise ConfigError(
            f"--steps {config.total_timesteps:,} is below one rollout ({config.num_envs} envs x "
            f"{config.num_steps} steps = {config.batch_size:,} env steps): nothing would train; "
            f"use --steps {config.batch_size:,} or more"
        )
    if not 0.0 < config.gamma <= 1.0 or not 0.0 <= config.gae_lambda <= 1.0:
        raise ConfigError("gamma must be in (0, 1] and gae_lambda in [0, 1]")
    if config.activation not in ACTIVATIONS:
        raise ConfigError(f"activation {config.activation!r} is not one of {', '.join(ACTIVATIONS)}")


# ---------------------------------------------------------------------------------------------------------
# Agent
# ---------------------------------------------------------------------------------------------------------


def layer_init(layer: nn.Linear, std: float = math.sqrt(2), bias_const: float = 0.0) -> nn.Linear:
    """Orthogonal weights with gain ``std`` and constant bias (cleanrl's and SB3's initialisation)."""
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, bias_const)
    return layer


def mlp(obs_dim: int, out: int, hidden: int, depth: int, activation: str, out_std: float) -> nn.Sequential:
    """``depth`` hidden ``nn.Linear`` layers of width ``hidden`` with ``activation``, then a linear head."""
    layers: list[nn.Module] = []
    width_in = obs_dim
    for _ in range(depth):
        layers += [layer_init(nn.Linear(width_in, hidden)), ACTIVATIONS[activation]()]
        width_in = hidden
    layers.append(layer_init(nn.Linear(width_in, out), std=out_std))
    return nn.Sequential(*layers)


class Agent(nn.Module):
    """Separate actor and critic MLPs (obs → hidden x depth → out), as cleanrl and SB3's MlpPolicy."""

    def __init__(
        self, obs_dim: int, n_actions: int, hidden: int = 64, depth: int = 2, activation: str = "tanh"
    ) -> None:
        """Build and initialise both towers (critic head gain 1, actor head 0.01: a near-uniform policy)."""
        super().__init__()
        self.critic = mlp(obs_dim, 1, hidden, depth, activation, out_std=1.0)
        self.actor = mlp(obs_dim, n_actions, hidden, depth, activation, out_std=0.01)

    def get_value(self, x: torch.Tensor) -> torch.Tensor:
        """The critic's estimate V(x), shape ``(B,)``."""
        return self.critic(x).squeeze(-1)

    def get_action_and_value(
        self, x: torch.Tensor, action: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sample (or score) an action: ``(action, log_prob, entropy, value)``."""
        logits = self.actor(x)
        # NOTE: validate_args=False skips Categorical's argument check, which on a GPU reads a flag back to
        # the host (a device sync) at every call; the logits come from our own network.
        probs = Categorical(logits=logits, validate_args=False)
        if action is None:
            action = probs.sample()
        return action, probs.log_prob(action), probs.entropy(), self.get_value(x)

    def greedy_action(self, x: torch.Tensor) -> torch.Tensor:
        """The deterministic policy used for evaluation: the most likely action."""
        return self.actor(x).argmax(dim=-1)


@dataclass(frozen=True, slots=True)
class OptimizerInfo:
    """Which ``torch.optim.Adam`` implementation a run used."""

    implementation: str
    """``fused`` (one kernel for all parameters), ``foreach`` (multi-tensor ops) or ``for-loop``."""
    reason: str
    """Why that one."""


def make_optimizer(
    params: list[nn.Parameter], lr: float, eps: float
) -> tuple[torch.optim.Adam, OptimizerInfo]:
    """``torch.optim.Adam``, fused where this torch has the fused kernel for the parameters' device.

    torch's own default is foreach on CUDA and the for-loop on the CPU; fused Adam exists for CUDA (torch
    ≥ 2.0) and the CPU (≥ 2.4). Constructing it is the test: a torch without the kernel raises, and we fall
    back to foreach, saying so.
    """
    try:
        return torch.optim.Adam(params, lr=lr, eps=eps, fused=True), OptimizerInfo(
            "fused", f"torch {torch.__version__} has fused Adam for {params[0].device.type}"
        )
    except (RuntimeError, TypeError, ValueError) as exc:
        return torch.optim.Adam(params, lr=lr, eps=eps, foreach=True), OptimizerInfo(
            "foreach", f"fused Adam unavailable here ({type(exc).__name__}: {exc})"
        )


# ---------------------------------------------------------------------------------------------------------
# Rollout
# ---------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Rollout:
    """One rollout's storage, ``(num_steps, num_envs, ...)`` tensors on the rollout device (cleanrl's)."""

    obs: torch.Tensor
    actions: torch.Tensor
    logprobs: torch.Tensor
    rewards: torch.Tensor
    terminated: torch.Tensor
    """The episode ended in a terminal state (no bootstrap)."""
    dones: torch.Tensor
    """The episode ended, terminated or truncated (GAE does not run across it)."""
    valid: torch.Tensor
    """False for the auto-reset step after an episode end: not a real transition, left out of the update."""
    values: torch.Tensor
    finished: torch.Tensor
    """The return of each episode that ended at this step, NaN elsewhere (read once per rollout)."""
    next_value: torch.Tensor | None = None
    """V of the observation after the last step (the bootstrap for the final row)."""

    @classmethod
    def allocate(cls, num_steps: int, num_envs: int, obs_dim: int, device: torch.device) -> Rollout:
        """Zeroed storage on ``device``."""
        shape = (num_steps, num_envs)

        def zeros(*extra: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
            return torch.zeros((*shape, *extra), dtype=dtype, device=device)

        return cls(
            obs=zeros(obs_dim),
            actions=zeros(dtype=torch.int64),
            logprobs=zeros(),
            rewards=zeros(),
            terminated=zeros(dtype=torch.bool),
            dones=zeros(dtype=torch.bool),
            valid=zeros(dtype=torch.bool),
            values=zeros(),
            finished=zeros(),
        )


@dataclass(slots=True)
class EnvState:
    """What carries over between rollouts: the current observation, auto-reset flags, running returns."""

    next_obs: torch.Tensor
    resetting: torch.Tensor
    """True where the previous step ended an episode, so the next step is an auto-reset."""
    episode_returns: torch.Tensor
    """Running return of each environment's current episode."""
    finished_returns: list[float] = field(default_factory=list)
    """Returns of training episodes finished so far (host floats)."""

    @classmethod
    def start(cls, next_obs: torch.Tensor) -> EnvState:
        """The state right after a reset."""
        n = next_obs.shape[0]
        return cls(
            next_obs,
            torch.zeros(n, dtype=torch.bool, device=next_obs.device),
            torch.zeros(n, device=next_obs.device),
        )


def collect_rollout(
    envs: GymVectorEnv | TorchCartPole,
    policy: Agent,
    state: EnvState,
    buf: Rollout,
    timer: PhaseTimer,
) -> None:
    """Run ``policy`` for ``num_steps`` steps in every environment, filling ``buf``, advancing ``state``."""
    for step in range(buf.obs.shape[0]):
        buf.obs[step] = state.next_obs
        buf.valid[step] = ~state.resetting
        with timer.phase("inference"), torch.inference_mode():
            action, logprob, _, value = policy.get_action_and_value(state.next_obs)
        buf.actions[step] = action
        buf.logprobs[step] = logprob
        buf.values[step] = value
        # PLACEMENT: GymVectorEnv copies to and from the host here (on "gpu"); TorchCartPole stays put.
        next_obs, reward, terminated, done = envs.step(action)
        buf.rewards[step] = reward
        buf.terminated[step] = terminated
        buf.dones[step] = done
        state.episode_returns += reward
        buf.finished[step] = torch.where(done, state.episode_returns, torch.nan)
        state.episode_returns.masked_fill_(done, 0.0)
        state.next_obs, state.resetting = next_obs, done
    with timer.phase("inference"), torch.inference_mode():
        buf.next_value = policy.get_value(state.next_obs)
    finished = buf.finished.flatten()
    state.finished_returns.extend(finished[~finished.isnan()].tolist())


# ---------------------------------------------------------------------------------------------------------
# Generalised advantage estimation
# ---------------------------------------------------------------------------------------------------------


def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    next_value: torch.Tensor,
    terminated: torch.Tensor,
    dones: torch.Tensor,
    gamma: float,
    gae_lambda: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages and returns, ``(num_steps, num_envs)`` each (Schulman et al. 2016, eq. 11-16).

    ``values[t + 1]`` (or ``next_value`` for the last row) is the value of the observation that step ``t``
    produced. With NEXT_STEP auto-reset that observation is the episode's final one, so a truncated episode
    is bootstrapped from the real V(s_final) and a terminated one from 0; GAE never crosses an episode end.
    """
    num_steps = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    lastgaelam = torch.zeros_like(next_value)
    not_terminated = (~terminated).to(rewards.dtype)
    not_done = (~dones).to(rewards.dtype)
    for t in reversed(range(num_steps)):
        nextvalues = next_value if t == num_steps - 1 else values[t + 1]
        delta = rewards[t] + gamma * nextvalues * not_terminated[t] - values[t]
        lastgaelam = delta + gamma * gae_lambda * not_done[t] * lastgaelam
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

    def to(self, device: torch.device | str) -> Batch:
        """The same batch on ``device``."""
        return Batch(
            *(t.to(device) for t in (self.obs, self.actions, self.logprobs, self.advantages, self.returns))
        )


def make_batch(buf: Rollout, advantages: torch.Tensor, returns: torch.Tensor, device: torch.device) -> Batch:
    """Flatten the rollout, drop auto-reset steps and move it to the update device (``b_obs`` ...)."""
    keep = buf.valid.flatten()

    def flat(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(-1, *t.shape[2:])[keep].to(device)

    return Batch(flat(buf.obs), flat(buf.actions), flat(buf.logprobs), flat(advantages), flat(returns))


def ppo_loss(
    agent: Agent,
    mb_obs: torch.Tensor,
    mb_actions: torch.Tensor,
    mb_logprobs: torch.Tensor,
    mb_advantages: torch.Tensor,
    mb_returns: torch.Tensor,
    clip_coef: float,
    config: PPOConfig,
    diagnostics: bool = True,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The PPO objective for one minibatch: ``(loss, parts)``, ``parts`` detached (no host sync).

    ``mb_advantages`` are normalised here when ``config.norm_adv`` (per minibatch, as cleanrl). ``parts``
    (cleanrl's logged diagnostics) is empty unless ``diagnostics``: it costs a tenth of a CPU update.
    """
    _, newlogprob, entropy, newvalue = agent.get_action_and_value(mb_obs, mb_actions)
    logratio = newlogprob - mb_logprobs
    ratio = logratio.exp()
    if config.norm_adv and mb_advantages.shape[0] > 1:
        mb_advantages = (mb_advantages - mb_advantages.mean()) / (mb_advantages.std() + 1e-8)

    # Policy loss: the clipped surrogate objective, negated for gradient descent
    pg_loss1 = -mb_advantages * ratio
    pg_loss2 = -mb_advantages * torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef)
    pg_loss = torch.max(pg_loss1, pg_loss2).mean()

    # Value loss (unclipped, as SB3's default)
    v_loss = ((newvalue - mb_returns) ** 2).mean()
    entropy_loss = entropy.mean()
    loss = pg_loss - config.ent_coef * entropy_loss + config.vf_coef * v_loss
    if not diagnostics:
        return loss, {}
    with torch.no_grad():
        parts = {
            "loss": loss.detach(),
            "pg_loss": pg_loss.detach(),
            "v_loss": v_loss.detach(),
            "entropy": entropy_loss.detach(),
            "approx_kl": ((ratio - 1) - logratio).mean(),
            "clipfrac": ((ratio - 1.0).abs() > clip_coef).float().mean(),
        }
    return loss, parts


def update(
    agent: Agent, optimizer: torch.optim.Optimizer, batch: Batch, config: PPOConfig, clip_coef: float
) -> dict[str, torch.Tensor]:
    """``update_epochs`` passes of minibatch gradient steps (cleanrl's loop).

    Returns the diagnostics of the first minibatch (its ``loss`` is computed from the rollout's weights,
    before any step) and of the last (prefixed ``last_``), as device tensors: reading them is the caller's
    one sync.
    """
    n = len(batch)
    minibatch = config.minibatch_size
    stats: dict[str, torch.Tensor] = {}
    b_inds = torch.arange(n, device=batch.obs.device)
    for epoch in range(config.update_epochs):
        if n > minibatch:  # NOTE: one minibatch covers the batch: shuffling would change nothing
            b_inds = torch.randperm(n, device=batch.obs.device)
        for start in range(0, n, minibatch):
            mb_inds = b_inds[start : start + minibatch]
            first = epoch == 0 and start == 0
            last = epoch == config.update_epochs - 1 and start + minibatch >= n
            loss, parts = ppo_loss(
                agent,
                batch.obs[mb_inds],
                batch.actions[mb_inds],
                batch.logprobs[mb_inds],
                batch.advantages[mb_inds],
                batch.returns[mb_inds],
                clip_coef,
                config,
                diagnostics=first or last,
            )
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(agent.parameters(), config.max_grad_norm, foreach=True)
            optimizer.step()
            if first:
                stats.update(parts)
            if last:
                stats.update({f"last_{name}": value for name, value in parts.items()})
    return stats


# ---------------------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------------------


def evaluate(policy: Agent, env_id: str, episodes: int, seed: int, device: torch.device) -> list[float]:
    """Returns of ``episodes`` episodes of the greedy policy on Gymnasium's env, one per copy, fixed seeds.

    Every placement is judged on the same Gymnasium environment, ``gpu-env`` included, so its torch physics
    cannot pass by being wrong in a convenient way.
    """
    envs = make_gym_vector_env(env_id, episodes)
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
    """Seconds since training started, evaluations included."""
    train_s: float
    """The same without the time spent evaluating."""
    mean_return: float
    """Mean return of the deterministic policy over ``eval_episodes`` episodes."""


@dataclass(frozen=True, slots=True)
class TrainResult:
    """What one training run measured (after its warm-up iterations)."""

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
    optimizer: OptimizerInfo
    warmup_steps: int = 0
    """Environment steps run before timing started (not in ``env_steps``)."""

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

    def fractions(self) -> dict[str, float]:
        """Each phase's share of the training wall time (evaluation excluded), summing to 1."""
        busy = self.wall_s - self.phases.get("eval", 0.0)
        return {k: (v / busy if busy > 0 else 0.0) for k, v in self.phases.items() if k != "eval"}


ProgressFn = Callable[[int, int, "EvalPoint | None"], None]
"""Called after every timed iteration with ``(env_steps_done, env_steps_total, latest_eval)``."""


def train(
    config: PPOConfig,
    placement: Placement,
    on_progress: ProgressFn | None = None,
    *,
    warmup_iterations: int = 0,
) -> TrainResult:
    """Train PPO under ``placement`` and measure where the time goes.

    The first ``warmup_iterations`` rollout + update cycles run untimed (they pay lazy CUDA module loading,
    cuBLAS start-up and the allocator's first growth); ``total_timesteps`` steps are timed after them.
    """
    validate(config)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(config.torch_threads)
    try:
        return _train(config, placement, on_progress, warmup_iterations)
    finally:
        torch.set_num_threads(previous_threads)


def make_env(
    config: PPOConfig, placement: Placement, timer: PhaseTimer, device: torch.device
) -> GymVectorEnv | TorchCartPole:
    """The rollout's environment: Gymnasium's on the host, or the torch CartPole on the device (gpu-env)."""
    if placement.torch_env:
        return TorchCartPole(config.num_envs, device, seed=config.seed, timer=timer)
    return GymVectorEnv(config.env_id, config.num_envs, device, timer)


def _train(
    config: PPOConfig, placement: Placement, on_progress: ProgressFn | None, warmup_iterations: int
) -> TrainResult:
    torch.manual_seed(config.seed)
    rollout_device, update_device = (
        torch.device(placement.rollout_device),
        torch.device(placement.update_device),
    )
    timer = PhaseTimer(sync=placement.synchronizer())
    envs = make_env(config, placement, timer, rollout_device)

    # PLACEMENT: the learner lives on the update device; "split" acts with a CPU copy synced once per update.
    agent = Agent(envs.obs_dim, envs.n_actions, config.hidden, config.depth, config.activation).to(
        update_device
    )
    policy = copy.deepcopy(agent).to(rollout_device) if placement.separate_policy else agent
    optimizer, optimizer_info = make_optimizer(
        list(agent.parameters()), config.learning_rate, config.adam_eps
    )
    buf = Rollout.allocate(config.num_steps, config.num_envs, envs.obs_dim, rollout_device)
    state = EnvState.start(envs.reset(seed=config.seed))

    num_iterations = warmup_iterations + config.num_iterations
    curve: list[EvalPoint] = []
    eval_returns: list[float] = []
    first_loss, env_steps, next_eval = float("nan"), 0, config.eval_every
    memory = PeakMemory(update_device if update_device.type != "cpu" else None)
    start = time.perf_counter()
    for iteration in range(1, num_iterations + 1):
        if iteration == warmup_iterations + 1:  # the timed window starts here
            timer.reset()
            memory = PeakMemory(update_device if update_device.type != "cpu" else None)
            state.finished_returns.clear()
            start = time.perf_counter()
        frac = 1.0 - (iteration - 1.0) / num_iterations if config.anneal else 1.0
        collect_rollout(envs, policy, state, buf, timer)
        with timer.phase("update"):
            advantages, returns = compute_gae(
                buf.rewards, buf.values, buf.next_value, buf.terminated, buf.dones,
                config.gamma, config.gae_lambda,
            )  # fmt: skip
        with timer.phase("transfer"):
            batch = make_batch(buf, advantages, returns, update_device)
        with timer.phase("update"):
            for group in optimizer.param_groups:
                group["lr"] = frac * config.learning_rate
            stats = update(agent, optimizer, batch, config, frac * config.clip_coef)
        if placement.separate_policy:
            with timer.phase("transfer"):
                sync_weights(agent, policy)
        if iteration <= warmup_iterations:
            continue
        env_steps += config.batch_size
        if iteration == warmup_iterations + 1:
            first_loss = float(stats["loss"])
        latest = None
        if config.evaluate and (env_steps >= next_eval or iteration == num_iterations):
            next_eval += config.eval_every
            with timer.phase("eval"):
                eval_returns = evaluate(
                    policy, config.env_id, config.eval_episodes, config.seed + 10_000, rollout_device
                )
            now = time.perf_counter() - start
            latest = EvalPoint(env_steps, now, now - timer.seconds["eval"], float(np.mean(eval_returns)))
            curve.append(latest)
        if on_progress is not None:
            on_progress(env_steps, config.num_iterations * config.batch_size, latest)
        if config.early_stop and latest is not None and latest.mean_return >= SOLVED_RETURN:
            break
    if placement.synchronizer() is not None:
        placement.synchronizer()()
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
        optimizer=optimizer_info,
        warmup_steps=warmup_iterations * config.batch_size,
    )
