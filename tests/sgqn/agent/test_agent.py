"""The SG-SAC agent: the paper's numbers, update schedule, ablations, losses and checkpoints.

Structural pins use the paper-size agent; learning checks use a small encoder and batch
(`_small_cfg`) so the file runs in seconds on a CPU.
"""

from __future__ import annotations

import copy
import io
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sgqn.agent.attribution_ssl import AttributionSSL
from sgqn.agent.augment import random_shift
from sgqn.agent.consistency import Consistency
from sgqn.agent.factory import build_agent
from sgqn.agent.interfaces import Batch, OverlaySource
from sgqn.agent.losses import consistency_loss, critic_loss, soft_td_target
from sgqn.agent.sac import SAC
from sgqn.agent.saliency import attribution, masked_observation, saliency_mask
from sgqn.config import Config
from sgqn.presets import resolve
from tests.conftest import SEED

SMALL_OBS = (9, 32, 32)
ACTION_DIM = 4


class GeneratedOverlay:
    """A tiny pool of smooth random colour fields standing in for natural images.

    Image i of the stream is pool[i % n]: a pure function of the index, like OverlayStream.
    """

    def __init__(self, size: int, n: int = 16, seed: int = SEED, device: str = "cpu"):
        low = torch.rand(n, 3, 4, 4, generator=torch.Generator().manual_seed(seed))
        pool = (F.interpolate(low, size=size, mode="bilinear") * 255).to(torch.uint8)
        self.pool = pool.to(device)

    def images(self, start: int, n: int) -> torch.Tensor:
        index = torch.arange(start, start + n, device=self.pool.device) % len(self.pool)
        return self.pool[index]


def _small_cfg(algo: str = "sgqn", **kw) -> Config:
    small = {"num_conv_layers": 4, "num_filters": 8, "projection_dim": 16, "hidden_dim": 64}
    return Config(algo=algo, **{**small, **kw})


def _small_agent(algo: str = "sgqn", seed: int = SEED, dense: bool = True, **kw) -> SAC:
    torch.manual_seed(seed)
    agent = build_agent(
        SMALL_OBS, (ACTION_DIM,), _small_cfg(algo, **kw), "cpu", GeneratedOverlay(32)
    )
    if dense:
        # Perturb the delta-orthogonal convs: at init their guided gradients touch so few pixels
        # that the 0.95-quantile is 0 and every mask is all ones (L_C would be exactly 0).
        with torch.no_grad():
            for m in agent.critic.encoder.modules():
                if isinstance(m, nn.Conv2d):
                    m.weight.add_(0.1 * torch.randn_like(m.weight))
            agent.critic_target.load_state_dict(agent.critic.state_dict())
    return agent


def _batch(n: int = 8, obs_shape=SMALL_OBS, seed: int = SEED, terminal: bool = False) -> Batch:
    g = torch.Generator().manual_seed(seed)
    return Batch(
        obs=torch.randint(0, 256, (n, *obs_shape), generator=g, dtype=torch.uint8),
        action=torch.rand(n, ACTION_DIM, generator=g) * 2 - 1,
        reward=torch.randn(n, 1, generator=g),
        next_obs=torch.randint(0, 256, (n, *obs_shape), generator=g, dtype=torch.uint8),
        not_done=torch.zeros(n, 1) if terminal else torch.ones(n, 1),
    )


def _snapshot(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def _changed(module: nn.Module, before: list[torch.Tensor]) -> bool:
    return any(not torch.equal(p, b) for p, b in zip(module.parameters(), before, strict=True))


def test_paper_configuration_pins():
    cfg = resolve(Config(), "paper")
    assert (cfg.discount, cfg.batch_size, cfg.shift_pad, cfg.overlay_alpha) == (0.99, 128, 4, 0.5)
    assert (cfg.actor_update_freq, cfg.critic_target_update_freq, cfg.aux_update_freq) == (2, 2, 2)
    assert (cfg.encoder_tau, cfg.critic_tau, cfg.consistency_weight) == (0.05, 0.01, 0.5)
    agent = build_agent((9, 84, 84), (6,), cfg, "cpu", GeneratedOverlay(84))
    assert sum(isinstance(m, nn.Conv2d) for m in agent.critic.encoder.modules()) == 11
    assert agent.critic.encoder.out_shape == (32, 21, 21)
    assert agent.head.out_shape == (9, 84, 84)
    assert agent.quantile == 0.95
    cartpole = _small_cfg("sac", env="dmcgb/CartpoleSwingup-train-v0")
    assert build_agent(SMALL_OBS, (1,), cartpole, "cpu").quantile == 0.98
    assert math.isclose(agent.alpha.item(), 0.1, rel_tol=1e-6)
    assert agent.target_entropy == -6.0

    def hyper(opt):
        group = opt.param_groups[0]
        return group["lr"], group["betas"]

    assert hyper(agent.critic_optimizer) == (1e-3, (0.9, 0.999))
    assert hyper(agent.actor_optimizer) == (1e-3, (0.9, 0.999))
    assert hyper(agent.alpha_optimizer) == (1e-4, (0.5, 0.999))
    assert hyper(agent.aux_optimizer) == (3e-4, (0.9, 0.999))
    ids = lambda params: {id(p) for p in params}  # noqa: E731
    aux = ids(agent.aux_optimizer.param_groups[0]["params"])
    assert aux == ids(agent.head.parameters()) | ids(agent.critic.encoder.parameters()) | ids(
        agent.critic.projection.parameters()
    )
    assert not ids(agent.actor.parameters()) & ids(agent.critic.parameters())
    assert ids(agent.critic_optimizer.param_groups[0]["params"]) == ids(agent.critic.parameters())
    assert not ids(agent.critic_target.parameters()) & ids(agent.critic.parameters())
    for p, t in zip(agent.critic.parameters(), agent.critic_target.parameters(), strict=True):
        assert torch.equal(p, t) and not t.requires_grad


def test_update_frequencies():
    agent = _small_agent("sgqn")
    batch = _batch()
    parts = {
        "critic": agent.critic.q1_head,
        "actor": agent.actor,
        "target": agent.critic_target,
        "head": agent.head,
    }
    for step, expect_all in [(1, False), (2, True), (3, False), (4, True)]:
        before = {name: _snapshot(m) for name, m in parts.items()}
        alpha = agent.log_alpha.detach().clone()
        metrics = agent.update(batch, step)
        assert _changed(parts["critic"], before["critic"])
        for name in ("actor", "target", "head"):
            assert _changed(parts[name], before[name]) == expect_all, (name, step)
        assert (not torch.equal(agent.log_alpha, alpha)) == expect_all
        assert ("actor_loss" in metrics) == expect_all and ("aux_loss" in metrics) == expect_all


@pytest.mark.parametrize(
    "algo, consistency, ssl",
    [
        ("sac", False, False),
        ("sac_consistency", True, False),
        ("sac_ssl", False, True),
        ("sgqn", True, True),
    ],
)
def test_ablation_flags_switch_the_phases(algo, consistency, ssl):
    agent = _small_agent(algo)
    assert isinstance(agent, Consistency) == consistency
    assert isinstance(agent, AttributionSSL) == ssl and hasattr(agent, "aux_optimizer") == ssl
    metrics = agent.update(_batch(), step=2)
    assert ("consistency_loss" in metrics) == consistency
    assert ("aux_loss" in metrics) == ssl
    assert {"critic_loss", "q1", "actor_loss", "alpha_loss", "alpha", "entropy"} <= set(metrics)
    for value in metrics.values():  # no host syncs: metrics stay 0-d tensors
        assert isinstance(value, torch.Tensor) and value.dim() == 0 and not value.requires_grad
    if not ssl:
        with pytest.raises(ValueError, match="no attribution head"):
            agent.explain(_batch().obs)


def test_self_supervision_needs_an_overlay_source_to_update_not_to_act():
    agent = build_agent(SMALL_OBS, (ACTION_DIM,), _small_cfg("sac_ssl"), "cpu")
    agent.act(_batch().obs[0], sample=False)
    agent.attribution_maps(_batch().obs[:2])
    with pytest.raises(ValueError, match="overlay source"):
        agent.update(_batch(), step=2)
    assert isinstance(GeneratedOverlay(32), OverlaySource)


def test_critic_loss_is_td_plus_half_consistency():
    """update_critic's gradient equals that of L_Q + 0.5 L_C recomputed with separate graphs."""
    agent = _small_agent("sgqn")
    reference = copy.deepcopy(agent)
    b = _batch()
    obs = random_shift(b.obs, 4, generator=torch.Generator().manual_seed(0)).float()
    next_obs = random_shift(b.next_obs, 4, generator=torch.Generator().manual_seed(1)).float()

    torch.manual_seed(7)
    metrics = agent.update_critic(obs, b.action, b.reward, next_obs, b.not_done)
    grads = [p.grad.clone() for p in agent.critic.parameters()]

    torch.manual_seed(7)  # the same random draws: actor noise, then the masked fill value
    ref = reference
    with torch.no_grad():
        _, pi, log_pi, _ = ref.actor(ref.critic.encoder(next_obs))
        target = soft_td_target(
            b.reward, b.not_done, *ref.critic_target(next_obs, pi), log_pi, 0.1, 0.99
        )
    q = ref.critic(obs, b.action)
    mask = saliency_mask(attribution(ref.critic, obs, b.action), 0.95)
    assert 0 < mask.mean() < 0.5, "degenerate mask"
    l_c = consistency_loss(ref.critic(masked_observation(obs, mask), b.action), q)
    loss = critic_loss(*q, target) + 0.5 * l_c
    expected = torch.autograd.grad(loss, list(ref.critic.parameters()))

    assert l_c > 0
    torch.testing.assert_close(metrics["consistency_loss"], l_c.detach())
    for got, want in zip(grads, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)


def test_features_and_mask_match_a_standalone_attribution():
    agent = _small_agent("sgqn")
    b = _batch()
    obs = b.obs.float()
    features, mask = agent.features_and_mask(obs, b.action)
    expected = saliency_mask(attribution(agent.critic, obs, b.action), agent.quantile)
    assert torch.equal(mask, expected)
    torch.testing.assert_close(features, agent.critic.encoder(obs).detach())
    assert not features.requires_grad
    torch.testing.assert_close(agent.actor_features(obs, b.action, step=1), features)


def test_critic_loss_decreases_when_overfitting_one_batch():
    agent = _small_agent("sgqn")
    b = _batch(terminal=True)  # target = reward: a fixed regression problem
    obs, next_obs = b.obs.float(), b.next_obs.float()
    losses = []
    for _ in range(30):
        m = agent.update_critic(obs, b.action, b.reward, next_obs, b.not_done)
        losses.append((m["critic_loss"] + 0.5 * m["consistency_loss"]).item())
    assert losses[-1] < 0.3 * losses[0], losses


def test_actor_and_alpha_losses_decrease_when_overfitting_one_batch():
    agent = _small_agent("sgqn")
    b = _batch()
    features = agent.actor_features(b.obs.float(), b.action, step=1)
    actor_losses, alphas = [], []
    for _ in range(40):
        m = agent.update_actor_and_alpha(features)
        actor_losses.append(m["actor_loss"].item())
        alphas.append(m["alpha_loss"].item() / m["alpha"].item())  # sign of (-log_pi - H_target)
    assert np.mean(actor_losses[-5:]) < np.mean(actor_losses[:5]) - 0.1, actor_losses
    # alpha moves so that alpha * (-log_pi - H_target) decreases at a fixed log_pi.
    log_pi = agent.actor(features)[2].detach()
    before = agent.alpha.item()
    agent.update_actor_and_alpha(features)
    gap = (-log_pi - agent.target_entropy).mean().item()
    assert (agent.alpha.item() - before) * gap < 0


def test_attribution_loss_decreases_when_overfitting_one_batch():
    agent = _small_agent("sgqn")
    b = _batch()
    obs = b.obs.float()
    _, mask = agent.features_and_mask(obs, b.action)
    losses = [
        agent.update_attribution_head(obs, b.action, mask)["aux_loss"].item() for _ in range(25)
    ]
    assert losses[-1] < 0.7 * losses[0], losses


def test_actor_update_does_not_change_the_encoder_or_critic():
    agent = _small_agent("sgqn")
    b = _batch()
    features = agent.actor_features(b.obs.float(), b.action, step=1)
    critic_before = _snapshot(agent.critic)
    actor_before = _snapshot(agent.actor)
    for p in agent.critic.parameters():
        p.grad = None
    agent.update_actor_and_alpha(features)
    assert not _changed(agent.critic, critic_before)
    assert all(p.grad is None for p in agent.critic.parameters())  # no wasted critic gradients
    assert _changed(agent.actor, actor_before)


def test_target_networks_move_by_the_stated_momentum():
    agent = _small_agent("sac")
    with torch.no_grad():
        for p in agent.critic.parameters():
            p.add_(torch.randn_like(p))
    critic = dict(agent.critic.named_parameters())
    before = {n: p.detach().clone() for n, p in agent.critic_target.named_parameters()}
    agent.update_targets()
    for name, target in agent.critic_target.named_parameters():
        tau = 0.05 if name.startswith(("encoder.", "projection.")) else 0.01
        assert name.startswith(("encoder.", "projection.", "q1_head.", "q2_head."))
        expected = before[name] + tau * (critic[name] - before[name])
        torch.testing.assert_close(target, expected)


def test_state_dict_round_trip_continues_identically():
    a = _small_agent("sgqn", seed=1)
    for step in (1, 2):
        a.update(_batch(seed=step), step)
    buffer = io.BytesIO()
    torch.save(a.state_dict(), buffer)
    b = _small_agent("sgqn", seed=2)
    b.load_state_dict(torch.load(io.BytesIO(buffer.getvalue())))
    for net in ("actor", "critic", "critic_target", "head"):
        for pa, pb in zip(getattr(a, net).parameters(), getattr(b, net).parameters(), strict=True):
            assert torch.equal(pa, pb)
    assert torch.equal(a.log_alpha, b.log_alpha)
    b.overlay = copy.deepcopy(a.overlay)
    torch.manual_seed(3)
    a.update(_batch(seed=3), 4)
    torch.manual_seed(3)
    b.update(_batch(seed=3), 4)  # identical only if the optimiser states came back too
    for pa, pb in zip(a.critic.parameters(), b.critic.parameters(), strict=True):
        assert torch.equal(pa, pb)
    with pytest.raises(ValueError, match="does not match this agent"):
        _small_agent("sac").load_state_dict(a.state_dict())


def test_act_explain_and_attribution_maps():
    agent = _small_agent("sgqn")
    obs = _batch(n=3).obs
    action = agent.act(obs[0].numpy(), sample=False)
    assert action.shape == (ACTION_DIM,) and action.dtype == np.float32
    assert np.abs(action).max() <= 1.0
    np.testing.assert_array_equal(action, agent.act(obs[0], sample=False))
    assert agent.act(obs, sample=True).shape == (3, ACTION_DIM)
    assert not np.array_equal(agent.act(obs[0], True), agent.act(obs[0], True))
    with pytest.raises(ValueError, match="expected obs of shape"):
        agent.act(obs[0, :3], sample=False)
    predicted = agent.explain(obs)
    assert predicted.shape == obs.shape and 0 <= predicted.min() and predicted.max() <= 1
    maps = agent.attribution_maps(obs[0])
    assert maps.attribution.shape == maps.mask.shape == maps.predicted.shape == (1, *SMALL_OBS)
    assert set(maps.mask.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.gpu
@pytest.mark.parametrize("amp", [False, True])
def test_cuda_update_never_waits_for_the_host(amp):
    device = torch.device("cuda")
    torch.manual_seed(SEED)
    cfg = _small_cfg("sgqn", amp=amp)
    agent = build_agent(SMALL_OBS, (ACTION_DIM,), cfg, device, GeneratedOverlay(32, device="cuda"))
    batch = Batch(*(t.to(device) for t in _batch()))
    agent.update(batch, 2)  # first calls may initialise lazily
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for step in (1, 2):
            metrics = agent.update(batch, step)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert {"consistency_loss", "aux_loss"} <= set(metrics)
    assert all(v.device.type == "cuda" and torch.isfinite(v) for v in metrics.values())
