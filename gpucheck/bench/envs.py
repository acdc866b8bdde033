"""The environments a rollout steps: Gymnasium's vector CartPole behind a torch face, and CartPole in torch.

Both present the same interface to :func:`gpucheck.bench.ppo.collect_rollout`: ``reset() -> obs`` and
``step(actions) -> (next_obs, reward, terminated, done)``, all torch tensors on the rollout device, with
Gymnasium's ``NEXT_STEP`` auto-reset: the step after an episode ends only resets that copy (its action is
ignored, its reward is 0, it is not a real transition).

- :class:`GymVectorEnv` steps Gymnasium's own vector env on the host (``cpu``, ``gpu``, ``split``). With a
  rollout device other than the CPU, every step copies the actions to the host and the results back: the
  naive port of a CPU script, timed as ``transfer``.
- :class:`TorchCartPole` is CartPole-v1's dynamics as batched tensor maths (``gpu-env``): on a GPU the
  rollout never leaves the device. Its physics is Gymnasium's ``CartPoleEnv.step`` line for line, with the
  constants read from Gymnasium's class, and ``tests/bench/test_envs.py`` checks it against Gymnasium for the
  same states and actions.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

from gpucheck.bench.timing import PhaseTimer

OBS_DIM = 4
N_ACTIONS = 2


def make_gym_vector_env(env_id: str, num_envs: int) -> gym.vector.VectorEnv:
    """Gymnasium's own vector env: the native numpy-batched one where the env has it, else a SyncVectorEnv."""
    try:
        return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point")
    except (gym.error.Error, ValueError, TypeError):
        # NOTE: envs without a vector_entry_point (anything but CartPole among the classic ones).
        return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="sync")


class GymVectorEnv:
    """A Gymnasium vector env whose observations, rewards and flags arrive as tensors on ``device``."""

    def __init__(self, env_id: str, num_envs: int, device: torch.device, timer: PhaseTimer) -> None:
        """Make the vector env; ``timer`` receives the ``env`` and ``transfer`` seconds."""
        self.envs = make_gym_vector_env(env_id, num_envs)
        self.device, self.timer = device, timer
        self.num_envs = num_envs
        self.obs_dim = int(self.envs.single_observation_space.shape[0])
        self.n_actions = int(self.envs.single_action_space.n)

    def reset(self, seed: int) -> torch.Tensor:
        """Reset every copy; the first observations on the device."""
        obs, _ = self.envs.reset(seed=seed)
        return torch.from_numpy(obs).to(self.device)

    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step of every copy: ``(next_obs, reward, terminated, done)`` on the device."""
        # PLACEMENT: on "gpu" the actions come to the host and four results go back, every step.
        with self.timer.phase("transfer"):
            host_actions = actions.cpu().numpy()
        with self.timer.phase("env"):
            obs, reward, terminated, truncated, _ = self.envs.step(host_actions)
        with self.timer.phase("transfer"):
            return (
                torch.from_numpy(obs).to(self.device),
                torch.from_numpy(np.asarray(reward, dtype=np.float32)).to(self.device),
                torch.from_numpy(terminated).to(self.device),
                torch.from_numpy(terminated | truncated).to(self.device),
            )

    def close(self) -> None:
        """Close the vector env."""
        self.envs.close()


class TorchCartPole:
    """``num_envs`` CartPole-v1 copies as one ``(num_envs, 4)`` state tensor on ``device``.

    ``dtype`` is the state's precision: Gymnasium integrates in float64; float32 (the default, what a GPU does
    fast) drifts from it by rounding only. Observations are float32 either way, as Gymnasium's.
    """

    def __init__(
        self,
        num_envs: int,
        device: torch.device | str,
        *,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
        max_episode_steps: int = 500,
        timer: PhaseTimer | None = None,
    ) -> None:
        """Zero state; call :meth:`reset` before stepping. ``timer`` receives the ``env`` seconds."""
        reference = CartPoleEnv()
        self.gravity = reference.gravity
        self.masspole = reference.masspole
        self.total_mass = reference.total_mass
        self.length = reference.length
        self.polemass_length = reference.polemass_length
        self.force_mag = reference.force_mag
        self.tau = reference.tau
        self.euler = reference.kinematics_integrator == "euler"
        self.theta_threshold_radians = reference.theta_threshold_radians
        self.x_threshold = reference.x_threshold
        reference.close()
        self.num_envs, self.device, self.dtype = num_envs, torch.device(device), dtype
        self.max_episode_steps = max_episode_steps
        self.obs_dim, self.n_actions = OBS_DIM, N_ACTIONS
        self.timer = timer
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed)
        self.state = torch.zeros(num_envs, OBS_DIM, device=self.device, dtype=dtype)
        self.elapsed = torch.zeros(num_envs, device=self.device, dtype=torch.int32)
        self.resetting = torch.zeros(num_envs, device=self.device, dtype=torch.bool)

    def _initial_states(self) -> torch.Tensor:
        """Uniform in [-0.05, 0.05) per coordinate, as Gymnasium's reset."""
        draw = torch.rand(
            self.num_envs, OBS_DIM, generator=self.generator, device=self.device, dtype=self.dtype
        )
        return draw * 0.1 - 0.05

    def reset(self, seed: int | None = None) -> torch.Tensor:
        """Start a fresh episode in every copy; returns the observations."""
        if seed is not None:
            self.generator.manual_seed(seed)
        self.state = self._initial_states()
        self.elapsed.zero_()
        self.resetting.zero_()
        return self.state.to(torch.float32)

    def dynamics(self, state: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The next state for ``(N, 4)`` states and ``(N,)`` actions: ``CartPoleEnv.step``'s maths."""
        x, x_dot, theta, theta_dot = state.unbind(dim=1)
        force = torch.where(actions == 1, self.force_mag, -self.force_mag).to(state.dtype)
        costheta, sintheta = torch.cos(theta), torch.sin(theta)
        temp = (force + self.polemass_length * torch.square(theta_dot) * sintheta) / self.total_mass
        thetaacc = (self.gravity * sintheta - costheta * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * torch.square(costheta) / self.total_mass)
        )
        xacc = temp - self.polemass_length * thetaacc * costheta / self.total_mass
        if self.euler:
            x = x + self.tau * x_dot
            x_dot = x_dot + self.tau * xacc
            theta = theta + self.tau * theta_dot
            theta_dot = theta_dot + self.tau * thetaacc
        else:  # semi-implicit euler
            x_dot = x_dot + self.tau * xacc
            x = x + self.tau * x_dot
            theta_dot = theta_dot + self.tau * thetaacc
            theta = theta + self.tau * theta_dot
        return torch.stack((x, x_dot, theta, theta_dot), dim=1)

    def terminal(self, state: torch.Tensor) -> torch.Tensor:
        """Where the cart left the track or the pole fell past 12 degrees."""
        x, theta = state[:, 0], state[:, 2]
        return (
            (x < -self.x_threshold)
            | (x > self.x_threshold)
            | (theta < -self.theta_threshold_radians)
            | (theta > self.theta_threshold_radians)
        )

    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step of every copy: ``(next_obs, reward, terminated, done)`` on the device, no host sync."""
        if self.timer is None:
            return self._step(actions)
        with self.timer.phase("env"):
            return self._step(actions)

    def _step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        moved = self.dynamics(self.state, actions)
        elapsed = self.elapsed + 1
        terminated = self.terminal(moved)
        truncated = elapsed >= self.max_episode_steps
        # NEXT_STEP auto-reset: copies whose episode ended last step start again and report nothing else
        resetting = self.resetting
        self.state = torch.where(resetting.unsqueeze(1), self._initial_states(), moved)
        self.elapsed = torch.where(resetting, 0, elapsed).to(torch.int32)
        terminated = terminated & ~resetting
        done = (terminated | truncated) & ~resetting
        reward = (~resetting).to(torch.float32)
        self.resetting = done
        return self.state.to(torch.float32), reward, terminated, done

    def close(self) -> None:
        """Nothing to release (kept for the common interface)."""
