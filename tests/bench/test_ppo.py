"""The PPO pieces: GAE, the clipped loss, the standard agent and optimizer, rollouts, evaluation, training."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

import gpucheck.bench.ppo as ppo
from gpucheck.bench.envs import GymVectorEnv, TorchCartPole
from gpucheck.bench.placement import make_placement
from gpucheck.bench.ppo import (
    Agent,
    ConfigError,
    EnvState,
    PPOConfig,
    Rollout,
    collect_rollout,
    compute_gae,
    evaluate,
    make_batch,
    make_optimizer,
    ppo_loss,
    train,
    validate,
)
from gpucheck.bench.timing import PhaseTimer

CPU = torch.device("cpu")


def _t(rows, dtype=torch.float32) -> torch.Tensor:
    return torch.tensor(rows, dtype=dtype)


# --- GAE -------------------------------------------------------------------------------------------------


def test_gae_matches_a_hand_computed_case():
    # One env, 3 steps; step 1 ends the episode by termination. gamma 0.5, lambda 0.5.
    terminated = _t([[False], [True], [False]], torch.bool)
    adv, ret = compute_gae(
        _t([[1.0], [1.0], [1.0]]),
        _t([[2.0], [3.0], [4.0]]),
        _t([5.0]),
        terminated,
        terminated.clone(),
        0.5,
        0.5,
    )
    # t=2: delta = 1 + 0.5*5 - 4 = -0.5; t=1: terminal: delta = 1 - 3 = -2; t=0: 0.5 + 0.25 * -2 = 0
    torch.testing.assert_close(adv[:, 0], _t([0.0, -2.0, -0.5]))
    torch.testing.assert_close(ret[:, 0], _t([2.0, 1.0, 3.5]))


def test_gae_bootstraps_a_truncated_episode_from_its_final_observation():
    # Step 0 is truncated (time limit): values[1] is V(final obs) and must be used, but not continued past.
    adv, _ = compute_gae(
        _t([[1.0], [0.0]]),
        _t([[1.0], [10.0]]),
        _t([100.0]),
        _t([[False], [False]], torch.bool),
        _t([[True], [False]], torch.bool),
        0.9,
        0.95,
    )
    assert float(adv[0, 0]) == pytest.approx(1.0 + 0.9 * 10.0 - 1.0)


def test_gae_with_lambda_one_and_no_ends_is_discounted_return_minus_value():
    g = torch.Generator().manual_seed(0)
    rewards, values, next_value = (
        torch.randn(6, 3, generator=g),
        torch.randn(6, 3, generator=g),
        torch.randn(3),
    )
    no = torch.zeros(6, 3, dtype=torch.bool)
    adv, _ = compute_gae(rewards, values, next_value, no, no, gamma=0.9, gae_lambda=1.0)
    expected = next_value.clone()
    for t in reversed(range(6)):
        expected = rewards[t] + 0.9 * expected
        torch.testing.assert_close(adv[t], expected - values[t], rtol=1e-5, atol=1e-5)


# --- agent, loss, optimizer ------------------------------------------------------------------------------


def _batch(n: int = 64, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(n, 4, generator=g)
    actions = torch.randint(0, 2, (n,), generator=g)
    logprobs = torch.log(torch.full((n,), 0.5)) + 0.3 * torch.randn(n, generator=g)  # ratios beyond ±0.2
    return obs, actions, logprobs, torch.randn(n, generator=g), 5 * torch.randn(n, generator=g)


def test_agent_is_two_towers_of_linear_layers_with_the_requested_shape():
    agent = Agent(4, 2, hidden=32, depth=3, activation="relu")
    for tower, out in ((agent.actor, 2), (agent.critic, 1)):
        linears = [m for m in tower if isinstance(m, nn.Linear)]
        assert [(m.in_features, m.out_features) for m in linears] == [(4, 32), (32, 32), (32, 32), (32, out)]
        assert sum(isinstance(m, nn.ReLU) for m in tower) == 3
    assert not set(map(id, agent.actor.parameters())) & set(map(id, agent.critic.parameters()))


def test_towers_are_orthogonally_initialised_with_cleanrls_gains():
    torch.manual_seed(0)
    agent = Agent(4, 2, 64)
    w = agent.actor[2].weight.detach()  # hidden 64x64, gain sqrt(2)
    torch.testing.assert_close(w @ w.T, 2 * torch.eye(64), atol=1e-4, rtol=0)
    head = agent.actor[-1].weight.detach()  # 2x64, gain 0.01: rows orthonormal * 0.01
    torch.testing.assert_close(head @ head.T, 1e-4 * torch.eye(2), atol=1e-8, rtol=0)
    assert float(agent.critic[-1].weight.detach().norm()) == pytest.approx(1.0, rel=1e-4)
    assert all(float(m.bias.detach().abs().max()) == 0 for m in agent.actor if isinstance(m, nn.Linear))


def test_clipped_loss_matches_the_formula_on_a_hand_case():
    torch.manual_seed(0)
    agent = Agent(4, 2, 8)
    obs, actions = torch.zeros(3, 4), torch.tensor([0, 0, 0])
    logp = torch.log_softmax(agent.actor(obs), -1)[:, 0].detach()
    # ratios 1.5 (clipped to 1.2), 0.5 (clipped to 0.8), 1.0; advantages +1, +1, -2 (not normalised)
    old = logp - torch.log(torch.tensor([1.5, 0.5, 1.0]))
    config = PPOConfig(vf_coef=0.0, ent_coef=0.0, norm_adv=False)
    loss, parts = ppo_loss(
        agent, obs, actions, old, torch.tensor([1.0, 1.0, -2.0]), torch.zeros(3), 0.2, config
    )
    # max(-A r, -A clip(r)): -1.2, -0.5, 2 → mean
    assert loss.item() == pytest.approx((-1.2 - 0.5 + 2.0) / 3, rel=1e-5)
    assert float(parts["clipfrac"]) == pytest.approx(2 / 3)


def test_value_and_entropy_terms_enter_the_loss_with_their_coefficients():
    torch.manual_seed(1)
    agent = Agent(4, 2, 8)
    args = _batch(16)
    base = PPOConfig(vf_coef=0.0, ent_coef=0.0)
    pg, _ = ppo_loss(agent, *args, 0.2, base)
    with_v, parts = ppo_loss(agent, *args, 0.2, replace(base, vf_coef=0.5))
    with_e, parts_e = ppo_loss(agent, *args, 0.2, replace(base, ent_coef=0.1))
    assert (with_v - pg).item() == pytest.approx(0.5 * float(parts["v_loss"]), rel=1e-5)
    assert (with_e - pg).item() == pytest.approx(-0.1 * float(parts_e["entropy"]), rel=1e-5)
    _, none = ppo_loss(agent, *args, 0.2, base, diagnostics=False)
    assert none == {}


def test_the_update_is_autograd_and_torch_optim_adam():
    # One epoch, one minibatch: update() must equal the textbook loop written out here.
    torch.manual_seed(2)
    config = PPOConfig(update_epochs=1)
    agent, reference = Agent(4, 2, 16), Agent(4, 2, 16)
    reference.load_state_dict(agent.state_dict())
    obs, actions, logprobs, adv, ret = _batch(64)
    batch = ppo.Batch(obs, actions, logprobs, adv, ret)
    optimizer, info = make_optimizer(list(agent.parameters()), 1e-3, 1e-5)
    ppo.update(agent, optimizer, batch, config, 0.2)
    ref_opt = torch.optim.Adam(reference.parameters(), lr=1e-3, eps=1e-5)
    loss, _ = ppo_loss(reference, obs, actions, logprobs, adv, ret, 0.2, config)
    ref_opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(reference.parameters(), 0.5)
    ref_opt.step()
    for got, want in zip(agent.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    assert info.implementation == "fused", "torch >= 2.4 has fused Adam on the CPU"


def test_optimizer_falls_back_to_foreach_and_says_why(monkeypatch):
    real = torch.optim.Adam

    def no_fused(params, **kw):
        if kw.get("fused"):
            raise RuntimeError(
                "`fused=True` requires all the params to be floating point Tensors of supported devices"
            )
        return real(params, **kw)

    monkeypatch.setattr(torch.optim, "Adam", no_fused)
    optimizer, info = make_optimizer([nn.Parameter(torch.zeros(3))], 1e-3, 1e-5)
    assert info.implementation == "foreach" and "fused=True" in info.reason
    assert optimizer.defaults["foreach"] is True


def test_categorical_sampling_follows_the_probabilities():
    torch.manual_seed(6)
    agent = Agent(4, 2, 8)
    action, logprob, entropy, value = agent.get_action_and_value(torch.randn(5, 4))
    assert action.shape == logprob.shape == entropy.shape == value.shape == (5,)
    with torch.no_grad():
        agent.actor[-1].bias.copy_(torch.tensor([0.0, float(np.log(4.0))]))  # p(1) ≈ 0.8 near x = 0
        agent.actor[-1].weight.zero_()
    actions, *_ = agent.get_action_and_value(torch.zeros(20000, 4))
    assert float(actions.float().mean()) == pytest.approx(0.8, abs=0.02)


def test_validate_rejects_impossible_configs():
    with pytest.raises(ConfigError, match="num_envs"):
        validate(PPOConfig(num_envs=0))
    with pytest.raises(ConfigError, match="gamma"):
        validate(PPOConfig(gamma=1.5))
    with pytest.raises(ConfigError, match="activation"):
        validate(PPOConfig(activation="swish"))
    validate(PPOConfig())


def test_a_budget_below_one_rollout_is_refused_with_the_rollout_size():
    with pytest.raises(ConfigError, match=r"--steps 100 is below one rollout \(8 envs x 32 steps = 256"):
        validate(PPOConfig(total_timesteps=100))
    validate(PPOConfig(total_timesteps=256))


def test_learning_rate_and_clip_decay_but_never_go_negative(monkeypatch):
    seen = []
    real = ppo.update

    def spy(agent, optimizer, batch, config, clip_coef):
        seen.append((optimizer.param_groups[0]["lr"], clip_coef))
        return real(agent, optimizer, batch, config, clip_coef)

    monkeypatch.setattr(ppo, "update", spy)
    config = PPOConfig(num_envs=2, total_timesteps=4 * 64, update_epochs=1, evaluate=False, early_stop=False)
    train(config, make_placement("cpu", "cpu"), warmup_iterations=1)
    lrs = [lr for lr, _ in seen]
    assert len(seen) == 5 and lrs[0] == pytest.approx(1e-3)
    assert all(a > b > 0 for a, b in zip(lrs, lrs[1:], strict=False))
    assert all(clip > 0 for _, clip in seen)


# --- rollouts, evaluation, training ------------------------------------------------------------------------


@pytest.mark.parametrize("torch_env", [False, True])
def test_rollout_masks_auto_reset_steps_and_records_episode_returns(torch_env):
    torch.manual_seed(7)
    timer = PhaseTimer()
    envs = (
        TorchCartPole(4, CPU, seed=0, timer=timer)
        if torch_env
        else GymVectorEnv("CartPole-v1", 4, CPU, timer)
    )
    agent = Agent(4, 2, 16)
    buf = Rollout.allocate(64, 4, 4, CPU)
    state = EnvState.start(envs.reset(seed=0))
    collect_rollout(envs, agent, state, buf, timer)
    ends = torch.nonzero(buf.dones[:-1])
    assert len(ends) > 0, "a random policy ends CartPole episodes within 64 steps"
    for t, e in ends.tolist():
        assert not buf.valid[t + 1, e] and buf.rewards[t + 1, e] == 0.0  # the auto-reset step
    assert buf.valid[0].all()
    assert len(state.finished_returns) == int(buf.dones.sum())
    assert sum(state.finished_returns) + float(state.episode_returns.sum()) == pytest.approx(
        float(buf.rewards.sum())
    )
    adv, ret = compute_gae(buf.rewards, buf.values, buf.next_value, buf.terminated, buf.dones, 0.98, 0.8)
    batch = make_batch(buf, adv, ret, CPU)
    assert len(batch) == int(buf.valid.sum())
    _, logp_taken, _, _ = agent.get_action_and_value(batch.obs, batch.actions)
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
    assert sum(result.fractions().values()) == pytest.approx(1.0)
    assert result.peak_host_mib and result.peak_host_mib > 10 and result.peak_device_mib is None
    point = result.curve[-1]
    assert point.train_s < point.wall_s and point.wall_s - point.train_s == pytest.approx(
        result.phases["eval"]
    )


@pytest.mark.slow
def test_same_seed_same_returns_on_cpu():
    a = train(_tiny(seed=3, steps=4096), make_placement("cpu", "cpu"))
    b = train(_tiny(seed=3, steps=4096), make_placement("cpu", "cpu"))
    c = train(_tiny(seed=4, steps=4096), make_placement("cpu", "cpu"))
    assert a.train_episode_returns == b.train_episode_returns
    assert a.first_update_loss == b.first_update_loss
    assert [p.mean_return for p in a.curve] == [p.mean_return for p in b.curve]
    assert a.train_episode_returns != c.train_episode_returns


def test_warm_up_iterations_are_not_timed_or_counted():
    config = PPOConfig(num_envs=2, total_timesteps=128, evaluate=False, early_stop=False, update_epochs=2)
    result = train(config, make_placement("cpu", "cpu"), warmup_iterations=2)
    assert result.env_steps == 128 and result.warmup_steps == 128
    assert result.curve == () and result.phases["eval"] == 0.0


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
