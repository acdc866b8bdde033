"""The torch CartPole (gpu-env) against Gymnasium's, and the Gymnasium adapter (run on the CPU here)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

from gpucheck.bench.envs import GymVectorEnv, TorchCartPole
from gpucheck.bench.timing import PhaseTimer

CUDA = torch.cuda.is_available()


def _states(n: int, seed: int) -> np.ndarray:
    """States across CartPole's whole range, including ones just inside and outside the limits."""
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [
            rng.uniform(-2.5, 2.5, n),
            rng.uniform(-3.0, 3.0, n),
            rng.uniform(-0.25, 0.25, n),
            rng.uniform(-3.5, 3.5, n),
        ]
    )


def _gymnasium_step(states: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    env = CartPoleEnv()
    env.reset(seed=0)
    next_states, terminated = [], []
    for state, action in zip(states, actions, strict=True):
        env.state = state.copy()
        env.steps_beyond_terminated = None
        _, _, term, _, _ = env.step(int(action))
        next_states.append(np.asarray(env.state, dtype=np.float64))
        terminated.append(term)
    return np.array(next_states), np.array(terminated)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dynamics_equal_gymnasium_for_the_same_states_and_actions(seed):
    states = _states(500, seed)
    actions = np.random.default_rng(seed + 100).integers(0, 2, 500)
    expected, expected_term = _gymnasium_step(states, actions)
    env = TorchCartPole(500, "cpu", dtype=torch.float64)
    got = env.dynamics(torch.from_numpy(states), torch.from_numpy(actions))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-12)
    assert (env.terminal(got).numpy() == expected_term).all()
    assert 0 < expected_term.sum() < 500, "the sample covers both outcomes"


def test_float32_dynamics_differ_from_gymnasium_by_rounding_only():
    states = _states(500, 7)
    actions = np.random.default_rng(8).integers(0, 2, 500)
    expected, _ = _gymnasium_step(states, actions)
    env = TorchCartPole(500, "cpu")
    got = env.dynamics(torch.from_numpy(states).float(), torch.from_numpy(actions))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_a_policy_driven_trajectory_matches_gymnasium_step_by_step():
    # Same start state, same actions, 200 steps: float64 torch and Gymnasium stay equal.
    env = CartPoleEnv()
    env.reset(seed=3)
    torch_env = TorchCartPole(1, "cpu", dtype=torch.float64)
    torch_env.reset(seed=0)
    torch_env.state = torch.from_numpy(np.asarray(env.state, dtype=np.float64)).unsqueeze(0)
    rng = np.random.default_rng(4)
    for _ in range(200):
        action = int(rng.integers(0, 2))
        obs, reward, terminated, _, _ = env.step(action)
        t_obs, t_reward, t_term, t_done = torch_env.step(torch.tensor([action]))
        np.testing.assert_allclose(t_obs[0].numpy(), obs, rtol=1e-6, atol=1e-7)
        assert bool(t_term[0]) == terminated and float(t_reward[0]) == reward
        if terminated:
            break


def test_next_step_auto_reset_semantics_match_gymnasiums_vector_env():
    torch_env = TorchCartPole(3, "cpu", seed=5)
    obs = torch_env.reset()
    assert obs.shape == (3, 4) and obs.dtype == torch.float32 and (obs.abs() <= 0.05).all()
    # Push copy 0 over the edge: it terminates, then the next step only resets it (reward 0, not terminal)
    torch_env.state[0] = torch.tensor([2.39, 5.0, 0.0, 0.0])
    _, reward, terminated, done = torch_env.step(torch.tensor([1, 0, 1]))
    assert terminated.tolist() == [True, False, False] and done.tolist() == [True, False, False]
    assert reward.tolist() == [1.0, 1.0, 1.0]
    obs, reward, terminated, done = torch_env.step(torch.tensor([1, 1, 1]))
    assert reward.tolist() == [0.0, 1.0, 1.0] and not terminated[0] and not done[0]
    assert (obs[0].abs() <= 0.05).all(), "the reset copy starts a fresh episode"
    assert int(torch_env.elapsed[0]) == 0 and int(torch_env.elapsed[1]) == 2

    # Gymnasium's native vector env behaves the same way
    envs = gym.make_vec("CartPole-v1", num_envs=1, vectorization_mode="vector_entry_point")
    envs.reset(seed=0)
    envs.unwrapped.state[:, 0] = [2.39, 5.0, 0.0, 0.0]
    _, r1, t1, _, _ = envs.step(np.array([1]))
    _, r2, t2, _, _ = envs.step(np.array([1]))
    assert (r1[0], bool(t1[0]), r2[0], bool(t2[0])) == (1.0, True, 0.0, False)
    envs.close()


def test_episodes_are_truncated_at_500_steps():
    torch_env = TorchCartPole(2, "cpu")
    torch_env.reset()
    torch_env.elapsed[:] = torch.tensor([498, 10], dtype=torch.int32)
    torch_env.state.zero_()  # balanced: never terminates
    _, _, terminated, done = torch_env.step(torch.tensor([0, 1]))
    assert not done.any()
    _, _, terminated, done = torch_env.step(torch.tensor([1, 0]))
    assert done.tolist() == [True, False] and not terminated.any()


def test_same_seed_same_resets():
    a, b = TorchCartPole(4, "cpu", seed=9), TorchCartPole(4, "cpu", seed=9)
    assert torch.equal(a.reset(), b.reset())
    assert not torch.equal(a.reset(seed=1), b.reset(seed=2))


def test_gym_adapter_returns_tensors_on_the_rollout_device_and_times_both_phases():
    timer = PhaseTimer()
    envs = GymVectorEnv("CartPole-v1", 4, torch.device("cpu"), timer)
    obs = envs.reset(seed=0)
    assert obs.shape == (4, 4) and (envs.obs_dim, envs.n_actions) == (4, 2)
    next_obs, reward, terminated, done = envs.step(torch.zeros(4, dtype=torch.int64))
    assert reward.dtype == torch.float32 and terminated.dtype == done.dtype == torch.bool
    assert next_obs.shape == (4, 4)
    assert timer.seconds["env"] > 0 and timer.seconds["transfer"] > 0
    envs.close()


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs a CUDA build of torch and a visible GPU")
def test_torch_cartpole_on_the_gpu_matches_the_cpu():
    states = torch.from_numpy(_states(4096, 11))
    actions = torch.from_numpy(np.random.default_rng(12).integers(0, 2, 4096))
    cpu = TorchCartPole(4096, "cpu", dtype=torch.float64)
    gpu = TorchCartPole(4096, "cuda", dtype=torch.float64)
    expected = cpu.dynamics(states, actions)
    got = gpu.dynamics(states.cuda(), actions.cuda()).cpu()
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    gpu.reset()
    obs, reward, terminated, done = gpu.step(torch.ones(4096, dtype=torch.int64, device="cuda"))
    assert obs.device.type == reward.device.type == done.device.type == "cuda"
