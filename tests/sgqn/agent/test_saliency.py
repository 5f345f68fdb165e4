"""Guided backprop (against captum's GuidedBackprop), the binarized mask and masked observations."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from captum.attr import GuidedBackprop
from torch import nn

from sgqn.agent.networks import Critic, SharedEncoder
from sgqn.agent.saliency import (
    GuidedReLU,
    _upper_quantile,
    attribution,
    input_gradient,
    masked_observation,
    saliency_mask,
)
from tests.conftest import SEED


def _random_critic(obs_shape, num_layers, action_dim=3, hidden=32, seed=SEED) -> Critic:
    """A critic with dense random weights (the delta-orthogonal init makes gradients sparse)."""
    torch.manual_seed(seed)
    critic = Critic(SharedEncoder(obs_shape, num_layers, 8), action_dim, 16, hidden).double()
    with torch.no_grad():
        for p in critic.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
    return critic


def _with_plain_relus(module: nn.Module) -> nn.Module:
    """A copy whose GuidedReLUs are torch's own nn.ReLU (so captum's oracle shares no code)."""
    module = copy.deepcopy(module)
    for name, child in list(module.named_children()):
        if isinstance(child, GuidedReLU):
            setattr(module, name, nn.ReLU())
        else:
            setattr(module, name, _with_plain_relus(child))
    return module


class _Q1(nn.Module):
    def __init__(self, critic: nn.Module, action: torch.Tensor):
        super().__init__()
        self.critic, self.action = critic, action

    def forward(self, obs):
        return self.critic(obs, self.action)[0]


@pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU")
@pytest.mark.parametrize(
    "obs_shape, num_layers, seed",
    [((9, 20, 20), 3, 0), ((6, 17, 23), 2, 1), ((9, 84, 84), 11, 2)],
)
def test_attribution_matches_captum_guided_backprop(obs_shape, num_layers, seed):
    critic = _random_critic(obs_shape, num_layers, seed=seed)
    g = torch.Generator().manual_seed(seed)
    batch = 2 if obs_shape[1] == 84 else 4
    obs = torch.randint(0, 256, (batch, *obs_shape), generator=g).double()
    action = torch.rand(batch, 3, generator=g, dtype=torch.float64) * 2 - 1

    ours = attribution(critic, obs, action)
    oracle = GuidedBackprop(_Q1(_with_plain_relus(critic), action)).attribute(
        obs.clone().requires_grad_(True)
    )

    assert ours.shape == obs.shape
    assert (oracle != 0).float().mean() > 0.05, "degenerate test: almost no gradient"
    torch.testing.assert_close(ours, oracle, rtol=1e-9, atol=1e-12 * oracle.abs().max().item())


def test_guided_pass_has_the_same_values_and_its_graph_alone_is_guided():
    critic = _random_critic((9, 20, 20), 3)
    obs = (torch.rand(3, 9, 20, 20, dtype=torch.float64) * 255).requires_grad_(True)
    action = torch.zeros(3, 3, dtype=torch.float64)
    q1_guided = critic.q1(obs, action, guided=True)
    q1_plain = critic.q1(obs, action)  # built while the guided graph is alive
    assert torch.equal(q1_guided, q1_plain)  # the mode changes the backward pass only
    plain = input_gradient(q1_plain, obs)
    guided = input_gradient(q1_guided, obs)
    (reference,) = torch.autograd.grad(_with_plain_relus(critic).q1(obs, action).sum(), obs)
    torch.testing.assert_close(plain, reference)
    assert not torch.allclose(guided, plain)
    # weight gradients of an ordinary pass are the plain ReLU network's
    q_plain = critic(obs.detach(), action)[0].sum()
    grads = torch.autograd.grad(q_plain, list(critic.parameters()), allow_unused=True)
    oracle = _with_plain_relus(critic)
    expected = torch.autograd.grad(
        oracle(obs.detach(), action)[0].sum(), list(oracle.parameters()), allow_unused=True
    )
    for ours, theirs in zip(grads, expected, strict=True):
        assert (ours is None) == (theirs is None)
        if ours is not None:
            assert torch.equal(ours, theirs)


def test_guided_relu_backward_rule():
    x = torch.tensor([-1.0, 2.0, 3.0, 0.5], requires_grad=True)
    upstream = torch.tensor([5.0, -4.0, 2.0, 1.0])
    (plain,) = torch.autograd.grad(GuidedReLU()(x), x, upstream)
    (guided,) = torch.autograd.grad(GuidedReLU()(x, guided=True), x, upstream)
    (again,) = torch.autograd.grad(GuidedReLU()(x, guided=False), x, upstream)
    assert plain.tolist() == again.tolist() == [0.0, -4.0, 2.0, 1.0]
    assert guided.tolist() == [0.0, 0.0, 2.0, 1.0]


def _reference_mask(attr: np.ndarray, quantile: float) -> np.ndarray:
    """Loop version of M_rho: per sample, per frame, numpy's (linear) quantile."""
    mask = np.zeros_like(attr)
    for b in range(attr.shape[0]):
        for f in range(attr.shape[1] // 3):
            frame = np.abs(attr[b, 3 * f : 3 * f + 3]).max(axis=0)
            mask[b, 3 * f : 3 * f + 3] = frame >= np.quantile(frame, quantile)
    return mask


@pytest.mark.parametrize("quantile", [0.95, 0.98, 0.5])
def test_saliency_mask_matches_loop_reference(quantile):
    g = torch.Generator().manual_seed(SEED)
    attr = torch.randn(4, 9, 12, 12, generator=g, dtype=torch.float64)
    mask = saliency_mask(attr, quantile)
    np.testing.assert_array_equal(mask.numpy(), _reference_mask(attr.numpy(), quantile))
    assert set(mask.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("quantile, kept", [(0.95, 5), (0.98, 2)])
def test_saliency_mask_keeps_top_fraction_of_each_frame(quantile, kept):
    # 100 distinct values per frame: linear quantile 0.95 -> 94.05, so 95..99 (5 pixels) stay.
    g = torch.Generator().manual_seed(SEED)
    attr = torch.stack([torch.randperm(100, generator=g).float() for _ in range(6)])
    attr = attr.view(2, 3, 1, 10, 10).repeat(1, 1, 3, 1, 1).view(2, 9, 10, 10)
    mask = saliency_mask(attr, quantile)
    assert mask.view(2, 9, 100).sum(-1).eq(kept).all()
    assert (mask.bool() == (attr >= 100 - kept)).all()


def test_saliency_mask_max_over_abs_of_the_three_channels():
    attr = torch.zeros(1, 3, 10, 10)
    attr[0, 0].view(-1)[:] = torch.arange(100) / 1000  # a weak ramp on R
    attr[0, 2, 0, 0] = -50.0  # a strong negative value on B
    mask = saliency_mask(attr, 0.99)
    assert mask[0, :, 0, 0].tolist() == [1.0, 1.0, 1.0]  # |-50| is the frame's largest value
    assert (mask[0, 0] == mask[0, 1]).all() and (mask[0, 0] == mask[0, 2]).all()


def test_saliency_mask_ties_are_kept():
    frame = torch.zeros(10, 10)
    frame.view(-1)[:10] = 1.0  # 10 % at the top value: the 0.95-quantile is 1.0, all ten stay
    attr = frame.expand(1, 3, 10, 10).clone()
    assert saliency_mask(attr, 0.95).sum() == 3 * 10
    constant = torch.full((1, 3, 10, 10), 7.0)
    assert saliency_mask(constant, 0.95).all()


def test_saliency_mask_frames_and_samples_are_independent():
    g = torch.Generator().manual_seed(SEED)
    attr = torch.randn(3, 9, 8, 8, generator=g)
    base = saliency_mask(attr, 0.9)
    scaled = attr.clone()
    scaled[1, 3:6] *= 1000.0  # one frame of one sample
    scaled[2] += 5.0 * torch.randn(9, 8, 8, generator=g)  # another sample entirely
    other = saliency_mask(scaled, 0.9)
    assert torch.equal(other[0], base[0])
    assert torch.equal(other[1], base[1])  # scaling a frame keeps its own ranking and the others
    assert torch.equal(saliency_mask(attr[1:2], 0.9)[0], base[1])


def test_saliency_mask_rejects_bad_input():
    with pytest.raises(ValueError, match="3 \\* frames"):
        saliency_mask(torch.zeros(1, 4, 5, 5), 0.9)
    with pytest.raises(ValueError, match="quantile in \\[0, 1\\]"):
        saliency_mask(torch.zeros(1, 3, 5, 5), 95)


def test_masked_observation_fills_with_one_value_within_batch_range():
    g = torch.Generator().manual_seed(SEED)
    obs = torch.randint(10, 200, (4, 9, 6, 6), generator=g, dtype=torch.uint8)
    mask = (torch.rand(4, 9, 6, 6, generator=g) > 0.7).float()
    out = masked_observation(obs, mask, generator=torch.Generator().manual_seed(1))
    assert out.dtype == torch.float32
    kept = mask.bool()
    assert torch.equal(out[kept], obs.float()[kept])
    fill = out[~kept].unique()
    assert fill.numel() == 1
    assert obs.min() <= fill.item() <= obs.max()
    again = masked_observation(obs, mask, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out, again)
    other = masked_observation(obs, mask, generator=torch.Generator().manual_seed(2))
    assert not torch.equal(out, other)
    with pytest.raises(ValueError, match="same shape"):
        masked_observation(obs, mask[:, :3])


@pytest.mark.parametrize("quantile", [0.95, 0.98, 0.975, 0.6, 0.3, 1.0, 0.0])
@pytest.mark.parametrize("n", [7056, 100, 2])
def test_upper_quantile_equals_torch_quantile(quantile, n):
    g = torch.Generator().manual_seed(SEED)
    values = torch.randn(5, 3, n, generator=g)
    values[0, 0] = 1.0  # ties
    expected = torch.quantile(values, quantile, dim=-1, keepdim=True)
    torch.testing.assert_close(_upper_quantile(values, quantile), expected, rtol=0, atol=0)
