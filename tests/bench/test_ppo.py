"""The PPO pieces: GAE, the clipped loss, the hand-written gradient, Adam, rollouts, evaluation, training."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from gpucheck.bench.placement import make_placement
from gpucheck.bench.ppo import (
    Adam,
    Agent,
    ConfigError,
    EnvState,
    PPOConfig,
    Rollout,
    _tanh_,
    clip_grad_norm_,
    collect_rollout,
    compute_gae,
    evaluate,
    make_batch,
    make_envs,
    ppo_grads,
    ppo_loss,
    sample_categorical,
    train,
    validate,
)
from gpucheck.bench.timing import PhaseTimer

CPU = torch.device("cpu")


# --- GAE -------------------------------------------------------------------------------------------------


def test_gae_matches_a_hand_computed_case():
    # One env, 3 steps; step 1 ends the episode by termination. gamma 0.5, lambda 0.5.
    rewards = np.array([[1.0], [1.0], [1.0]], np.float32)
    values = np.array([[2.0], [3.0], [4.0]], np.float32)
    next_value = np.array([5.0], np.float32)
    terminated = np.array([[False], [True], [False]])
    dones = terminated.copy()
    adv, ret = compute_gae(rewards, values, next_value, terminated, dones, gamma=0.5, gae_lambda=0.5)
    # t=2: delta = 1 + 0.5*5 - 4 = -0.5; A2 = -0.5
    # t=1: terminal: delta = 1 - 3 = -2; no continuation: A1 = -2
    # t=0: delta = 1 + 0.5*3 - 2 = 0.5; A0 = 0.5 + 0.25 * A1 = 0.0
    np.testing.assert_allclose(adv[:, 0], [0.0, -2.0, -0.5])
    np.testing.assert_allclose(ret[:, 0], [2.0, 1.0, 3.5])


def test_gae_bootstraps_a_truncated_episode_from_its_final_observation():
    # Step 0 is truncated (time limit): values[1] is V(final obs) and must be used, but not continued past.
    rewards = np.array([[1.0], [0.0]], np.float32)
    values = np.array([[1.0], [10.0]], np.float32)
    terminated = np.array([[False], [False]])
    dones = np.array([[True], [False]])
    adv, _ = compute_gae(rewards, values, np.array([100.0], np.float32), terminated, dones, 0.9, 0.95)
    assert adv[0, 0] == pytest.approx(1.0 + 0.9 * 10.0 - 1.0)


def test_gae_with_lambda_one_and_no_ends_is_discounted_return_minus_value():
    rng = np.random.default_rng(0)
    rewards = rng.normal(size=(6, 3)).astype(np.float32)
    values = rng.normal(size=(6, 3)).astype(np.float32)
    next_value = rng.normal(size=3).astype(np.float32)
    no = np.zeros((6, 3), bool)
    adv, _ = compute_gae(rewards, values, next_value, no, no, gamma=0.9, gae_lambda=1.0)
    expected = next_value.copy()
    for t in reversed(range(6)):
        expected = rewards[t] + 0.9 * expected
        np.testing.assert_allclose(adv[t], expected - values[t], rtol=1e-5, atol=1e-5)


# --- loss and gradient -------------------------------------------------------------------------------------


def _batch(n: int = 64, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(n, 4, generator=g)
    actions = torch.randint(0, 2, (n,), generator=g)
    logprobs = torch.log(torch.full((n,), 0.5)) + 0.3 * torch.randn(
        n, generator=g
    )  # ratios well outside ±0.2
    advantages = torch.randn(n, generator=g)
    returns = 5 * torch.randn(n, generator=g)
    return obs, actions, logprobs, advantages, returns


def test_clipped_loss_matches_the_formula_on_a_hand_case():
    torch.manual_seed(0)
    agent = Agent(4, 2, 8)
    obs = torch.zeros(3, 4)
    actions = torch.tensor([0, 0, 0])
    logits, value = agent(obs)
    logp = torch.log_softmax(logits, -1)[:, 0].detach()
    # ratios 1.5 (clipped to 1.2), 0.5 (clipped to 0.8), 1.0; advantages +1, +1, -2
    old = logp - torch.log(torch.tensor([1.5, 0.5, 1.0]))
    adv = torch.tensor([1.0, 1.0, -2.0])
    ret = torch.zeros(3)
    config = PPOConfig(vf_coef=0.0, ent_coef=0.0)
    loss, _ = ppo_loss(agent, obs, actions, old, adv, ret, 0.2, config)
    # max(-A r, -A clip(r)): A=+1, r=1.5 → max(-1.5, -1.2) = -1.2; A=+1, r=0.5 → max(-0.5, -0.8) = -0.5;
    # A=-2, r=1 → 2. Mean = (−1.2 − 0.5 + 2) / 3
    assert loss.item() == pytest.approx((-1.2 - 0.5 + 2.0) / 3, rel=1e-5)


def test_value_and_entropy_terms_enter_the_loss_with_their_coefficients():
    torch.manual_seed(1)
    agent = Agent(4, 2, 8)
    obs, actions, logprobs, adv, ret = _batch(16)
    base = PPOConfig(vf_coef=0.0, ent_coef=0.0)
    pg, _ = ppo_loss(agent, obs, actions, logprobs, adv, ret, 0.2, base)
    with_v, parts = ppo_loss(agent, obs, actions, logprobs, adv, ret, 0.2, replace(base, vf_coef=0.5), True)
    with_e, parts_e = ppo_loss(
        agent, obs, actions, logprobs, adv, ret, 0.2, replace(base, ent_coef=0.1), True
    )
    assert (with_v - pg).item() == pytest.approx(0.5 * float(parts["v_loss"]), rel=1e-5)
    assert (with_e - pg).item() == pytest.approx(-0.1 * float(parts_e["entropy"]), rel=1e-5)


@pytest.mark.parametrize("ent_coef", [0.0, 0.01])
@pytest.mark.parametrize("hidden", [8, 64])
def test_hand_written_gradient_equals_autograd(ent_coef, hidden):
    torch.manual_seed(2)
    agent = Agent(4, 2, hidden)
    config = PPOConfig(ent_coef=ent_coef)
    args = _batch(200)
    loss, _ = ppo_loss(agent, *args, 0.2, config)
    (expected,) = torch.autograd.grad(loss, [agent.flat])
    grad, parts = ppo_grads(agent, *args, 0.2, config, diagnostics=True)
    torch.testing.assert_close(grad, expected, rtol=1e-4, atol=1e-6)
    assert parts["loss"].item() == pytest.approx(loss.item(), rel=1e-5)


def test_critic_head_padding_gets_no_gradient():
    torch.manual_seed(3)
    agent = Agent(4, 2, 16)
    grad, _ = ppo_grads(agent, *_batch(32), 0.2, PPOConfig())
    g = agent.unflatten(grad)
    assert torch.count_nonzero(g["w3"][1, 1:]) == 0
    assert torch.count_nonzero(g["b3"][1, :, 1:]) == 0
    assert torch.count_nonzero(g["w3"][1, 0]) > 0


def test_inplace_tanh_equals_torch_tanh():
    x = torch.linspace(-10, 10, 1001)
    torch.testing.assert_close(_tanh_(x.clone()), torch.tanh(x), rtol=0, atol=1e-6)


def test_grad_clip_matches_torch():
    g = torch.randn(100) * 10
    p = nn.Parameter(torch.zeros(100))
    p.grad = g.clone()
    torch_norm = nn.utils.clip_grad_norm_([p], 0.5)
    ours = g.clone()
    norm = clip_grad_norm_(ours, 0.5)
    torch.testing.assert_close(norm, torch_norm)
    torch.testing.assert_close(ours, p.grad)
    small = torch.full((4,), 0.01)
    clip_grad_norm_(small, 0.5)
    torch.testing.assert_close(small, torch.full((4,), 0.01))


def test_adam_matches_torch_optim_adam():
    torch.manual_seed(4)
    ours_param = torch.randn(50)
    ref = nn.Parameter(ours_param.clone())
    ours, theirs = Adam(ours_param, lr=1e-2), torch.optim.Adam([ref], lr=1e-2, eps=1e-5)
    for step in range(25):
        grad = torch.randn(50) * (step + 1)
        ours.lr = theirs.param_groups[0]["lr"] = 1e-2 * (1 - step / 25)
        ours.step(grad)
        ref.grad = grad.clone()
        theirs.step()
    torch.testing.assert_close(ours_param, ref.detach(), rtol=1e-5, atol=1e-6)


# --- agent, sampling -------------------------------------------------------------------------------------


def test_agent_towers_are_orthogonally_initialised_and_independent():
    torch.manual_seed(5)
    agent = Agent(4, 2, 64)
    p = agent.unflatten(agent.flat.data)
    w2_actor = p["w2"][0].T  # (out, in)
    torch.testing.assert_close(w2_actor @ w2_actor.T, 2.0 * torch.eye(64), rtol=1e-4, atol=1e-4)  # gain √2
    assert not torch.equal(p["w1"][0], p["w1"][1])
    assert torch.all(p["b1"] == 0)
    # the actor head is small (std 0.01): a near-uniform initial policy
    logits, _ = agent(torch.randn(32, 4))
    assert torch.allclose(torch.softmax(logits, -1), torch.full((32, 2), 0.5), atol=0.05)


def test_sample_categorical_follows_the_probabilities():
    torch.manual_seed(6)
    probs = torch.tensor([[0.2, 0.8], [0.9, 0.1], [0.0, 1.0]]).repeat(4000, 1)
    actions = sample_categorical(torch.log(probs))
    freq1 = actions.view(4000, 3).float().mean(0)
    torch.testing.assert_close(freq1, torch.tensor([0.8, 0.1, 1.0]), atol=0.03, rtol=0)
    agent = Agent(4, 2, 8)
    action, logprob, entropy, _ = agent.get_action_and_value(torch.randn(5, 4))
    assert action.shape == logprob.shape == entropy.shape == (5,)


def test_validate_rejects_impossible_configs():
    with pytest.raises(ConfigError, match="num_envs"):
        validate(PPOConfig(num_envs=0))
    with pytest.raises(ConfigError, match="gamma"):
        validate(PPOConfig(gamma=1.5))
    validate(PPOConfig())


# --- rollouts, evaluation, training ------------------------------------------------------------------------


def test_rollout_masks_auto_reset_steps_and_records_episode_returns():
    torch.manual_seed(7)
    envs = make_envs("CartPole-v1", 4)
    obs, _ = envs.reset(seed=0)
    agent = Agent(4, 2, 16)
    buf = Rollout.allocate(64, 4, 4, 2, CPU)
    state = EnvState(obs, np.zeros(4, bool), np.zeros(4, np.float32))
    collect_rollout(envs, agent, state, buf, CPU, PhaseTimer())
    ends = np.argwhere(buf.dones[:-1])
    assert len(ends) > 0, "a random policy ends CartPole episodes within 64 steps"
    for t, e in ends:
        assert not buf.valid[t + 1, e] and buf.rewards[t + 1, e] == 0.0  # the auto-reset step
    assert buf.valid[0].all()
    assert len(state.finished_returns) == int(buf.dones.sum())
    assert sum(state.finished_returns) + state.episode_returns.sum() == pytest.approx(buf.rewards.sum())
    adv, ret = compute_gae(
        buf.rewards, buf.values.numpy(), buf.next_value.numpy(), buf.terminated, buf.dones, 0.98, 0.8
    )
    batch = make_batch(buf, adv, ret, CPU)
    assert len(batch) == int(buf.valid.sum())
    logp_taken = torch.log_softmax(agent(batch.obs)[0], -1).gather(1, batch.actions[:, None]).squeeze(1)
    torch.testing.assert_close(batch.logprobs, logp_taken.detach())


def test_evaluate_is_deterministic_and_counts_each_episode_once():
    torch.manual_seed(8)
    agent = Agent(4, 2, 16)
    first = evaluate(agent, "CartPole-v1", 5, seed=3, device=CPU)
    assert first == evaluate(agent, "CartPole-v1", 5, seed=3, device=CPU)
    assert len(first) == 5 and all(1 <= r <= 500 for r in first)


def _tiny(seed: int = 0, steps: int = 6144) -> PPOConfig:
    return PPOConfig(seed=seed, total_timesteps=steps, eval_every=2048, eval_episodes=5, early_stop=False)


@pytest.mark.slow
def test_a_short_cpu_run_improves_the_return():
    result = train(_tiny(steps=12288), make_placement("cpu", "cpu"))
    untrained = evaluate(Agent(4, 2, 64), "CartPole-v1", 5, seed=10_000, device=CPU)
    assert result.env_steps == 12288
    assert result.curve[-1].mean_return > max(2 * np.mean(untrained), 100)
    late, early = result.train_episode_returns[-20:], result.train_episode_returns[:20]
    assert np.mean(late) > 2 * np.mean(early)
    assert set(result.phases) == {"env", "inference", "transfer", "update", "eval", "other"}
    assert sum(result.phases.values()) == pytest.approx(result.wall_s, rel=1e-6)
    assert result.peak_host_mib and result.peak_host_mib > 10 and result.peak_device_mib is None


@pytest.mark.slow
def test_same_seed_same_returns_on_cpu():
    a = train(_tiny(seed=3, steps=4096), make_placement("cpu", "cpu"))
    b = train(_tiny(seed=3, steps=4096), make_placement("cpu", "cpu"))
    c = train(_tiny(seed=4, steps=4096), make_placement("cpu", "cpu"))
    assert a.train_episode_returns == b.train_episode_returns
    assert a.first_update_loss == b.first_update_loss
    assert [p.mean_return for p in a.curve] == [p.mean_return for p in b.curve]
    assert a.train_episode_returns != c.train_episode_returns


def test_train_restores_the_torch_thread_count():
    before = torch.get_num_threads()
    train(replace(_tiny(steps=256), torch_threads=1), make_placement("cpu", "cpu"))
    assert torch.get_num_threads() == before


@pytest.mark.slow
def test_early_stop_ends_at_the_first_solving_evaluation():
    config = PPOConfig(seed=1, total_timesteps=100_000, eval_every=2048)
    result = train(config, make_placement("cpu", "cpu"))
    assert result.solved
    assert result.curve[-1] is result.solved_at
    assert all(p.mean_return < 475 for p in result.curve[:-1])
    assert result.env_steps < 100_000
    assert result.eval_mean >= 475
