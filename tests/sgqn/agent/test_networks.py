"""Shapes, layer counts and initialisation of the SG-SAC networks (the paper's numbers)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sgqn.agent.networks import (
    SODAMLP,
    Actor,
    AttributionHead,
    Critic,
    Projection,
    SharedEncoder,
    conv3x3_on_upsampled,
)
from sgqn.agent.saliency import GuidedReLU
from tests.conftest import SEED

OBS_SHAPE = (9, 84, 84)
ACTION_DIM = 6


@pytest.fixture(scope="module")
def encoder() -> SharedEncoder:
    torch.manual_seed(SEED)
    return SharedEncoder(OBS_SHAPE, num_layers=11, num_filters=32)


def test_encoder_layers_and_output_shape(encoder):
    convs = [m for m in encoder.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 11
    assert [c.stride for c in convs] == [(2, 2)] + [(1, 1)] * 10
    assert all(c.kernel_size == (3, 3) and c.padding == (0, 0) for c in convs)
    assert all(c.out_channels == 32 for c in convs)
    assert convs[0].in_channels == 9
    # ReLUs only between convolutions (none after the last one), as in the DMC-GB code.
    assert sum(isinstance(m, GuidedReLU) for m in encoder.modules()) == 10
    assert isinstance(encoder.layers[-1], nn.Conv2d)
    obs = torch.randint(0, 256, (2, *OBS_SHAPE), dtype=torch.uint8)
    out = encoder(obs)
    assert out.shape == (2, 32, 21, 21) and encoder.out_shape == (32, 21, 21)
    assert encoder.out_dim == 32 * 21 * 21


def test_encoder_scales_pixels_itself(encoder):
    obs = torch.randint(0, 256, (2, *OBS_SHAPE), dtype=torch.uint8)
    torch.testing.assert_close(encoder(obs), encoder(obs.float()))
    torch.testing.assert_close(encoder(obs), encoder.layers(obs.float() / 255))


def test_projection_is_linear_layernorm_tanh():
    proj = Projection(32 * 21 * 21, 100)
    kinds = [type(m) for m in proj.net]
    assert kinds == [nn.Linear, nn.LayerNorm, nn.Tanh]
    assert proj.net[0].in_features == 14112 and proj.net[0].out_features == 100
    assert proj(torch.randn(3, 32, 21, 21)).shape == (3, 100)


def _linear_sizes(module: nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in module.modules() if isinstance(m, nn.Linear)]


def test_critic_has_two_q_heads_of_the_paper_size(encoder):
    critic = Critic(encoder, ACTION_DIM, 100, 1024)
    for head in (critic.q1_head, critic.q2_head):
        assert _linear_sizes(head) == [(106, 1024), (1024, 1024), (1024, 1)]
        assert sum(isinstance(m, GuidedReLU) for m in head.modules()) == 2
    assert critic.encoder is encoder
    obs = torch.randint(0, 256, (2, *OBS_SHAPE), dtype=torch.uint8)
    action = torch.rand(2, ACTION_DIM) * 2 - 1
    q1, q2 = critic(obs, action)
    assert q1.shape == q2.shape == (2, 1)
    assert not torch.allclose(q1, q2)  # independent heads
    torch.testing.assert_close(critic.q1(obs, action), q1)


def test_actor_sizes_bounds_and_squashing():
    torch.manual_seed(SEED)
    actor = Actor(32 * 21 * 21, ACTION_DIM, 100, 1024, -10.0, 2.0)
    assert _linear_sizes(actor.projection) == [(14112, 100)]
    assert _linear_sizes(actor.mlp) == [(100, 1024), (1024, 1024), (1024, 12)]
    features = torch.randn(64, 32, 21, 21) * 100  # extreme inputs push the log-std to its bounds
    mu, pi, log_pi, log_std = actor(features)
    assert mu.shape == pi.shape == log_std.shape == (64, ACTION_DIM) and log_pi.shape == (64, 1)
    assert log_std.min() >= -10.0 and log_std.max() <= 2.0
    assert mu.abs().max() <= 1.0 and pi.abs().max() <= 1.0
    mu_only, pi_none, log_pi_none, _ = actor(features, compute_pi=False, compute_log_pi=False)
    assert pi_none is None and log_pi_none is None
    torch.testing.assert_close(mu_only, mu)


def test_actor_log_std_is_tanh_rescaled():
    actor = Actor(4, 2, 3, 8, -10.0, 2.0)
    with torch.no_grad():
        actor.mlp[-1].weight.zero_()
        actor.mlp[-1].bias.copy_(torch.tensor([0.0, 0.0, 0.0, 100.0]))
    _, _, _, log_std = actor(torch.randn(1, 4))
    # tanh(0) = 0 -> midpoint -4; tanh(100) = 1 -> upper bound 2.
    torch.testing.assert_close(log_std, torch.tensor([[-4.0, 2.0]]))


def test_actor_log_prob_matches_tanh_gaussian():
    torch.manual_seed(SEED)
    actor = Actor(8, 3, 5, 16, -10.0, 2.0)
    features = torch.randn(4096, 8)
    torch.manual_seed(1)
    mu, pi, log_pi, log_std = actor(features)
    torch.manual_seed(1)
    raw_mu, raw_log_std = actor.mlp(actor.projection(features)).chunk(2, dim=-1)
    noise = torch.randn_like(raw_mu)
    dist = torch.distributions.TransformedDistribution(
        torch.distributions.Normal(raw_mu, log_std.exp()),
        torch.distributions.transforms.TanhTransform(),
    )
    pre = raw_mu + noise * log_std.exp()
    expected = dist.base_dist.log_prob(pre).sum(-1) - torch.log(1 - pi.pow(2) + 1e-6).sum(-1)
    torch.testing.assert_close(log_pi.squeeze(-1), expected, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(pi, torch.tanh(pre))


def test_actor_gradient_never_reaches_features():
    actor = Actor(8, 2, 4, 16)
    features = torch.randn(5, 8, requires_grad=True)
    _, pi, log_pi, _ = actor(features)
    (pi.sum() + log_pi.sum()).backward()
    assert features.grad is None
    assert all(p.grad is not None for p in actor.parameters())


@pytest.mark.parametrize(
    "variant, channels",
    [
        ("code", [(32, 128), (128, 64), (64, 9)]),  # the authors' AttributionDecoder
        ("paper", [(32, 64), (64, 64), (64, 9)]),  # the paper's appendix text
    ],
)
def test_attribution_head_shapes_and_layers(variant, channels):
    head = AttributionHead.variant(variant, 100, ACTION_DIM, (32, 21, 21), (9, 84, 84))
    convs = [m for m in head.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == channels
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    assert _linear_sizes(head) == [(106, 32 * 21 * 21)]
    logits = head(torch.randn(2, 100), torch.randn(2, ACTION_DIM))
    assert logits.shape == (2, 9, 84, 84)
    # The spatial path is linear -> 32x21x21 -> conv1 at 21 -> 42 -> conv2 -> 84 -> conv_out.
    emb, act = torch.randn(2, 100), torch.randn(2, ACTION_DIM)

    def up(x):
        return F.interpolate(x, scale_factor=2, mode="nearest")

    x = torch.relu(head.linear(torch.cat([emb, act], 1)).view(2, 32, 21, 21))
    x = up(torch.relu(head.conv1(x)))
    assert x.shape[-1] == 42
    x = up(torch.relu(head.conv2(x)))
    assert x.shape[-1] == 84
    torch.testing.assert_close(head(emb, act), head.conv_out(x), rtol=1e-4, atol=1e-4)


def test_attribution_head_initialisations():
    """`code`: PyTorch's default init (U(-1/sqrt(fan_in), 1/sqrt(fan_in)) weights and biases);
    `paper`: orthogonal linear, delta-orthogonal convs, zero biases."""
    torch.manual_seed(SEED)
    code = AttributionHead.variant("code", 100, ACTION_DIM, (32, 21, 21), (9, 84, 84))
    for layer in (code.linear, code.conv1, code.conv2, code.conv_out):
        fan_in = layer.weight[0].numel()
        bound = 1 / math.sqrt(fan_in)
        for values in (layer.weight, layer.bias):
            assert values.abs().max() <= bound
            # uniform on [-bound, bound]: standard deviation bound / sqrt(3), not a delta
            assert abs(values.std().item() - bound / math.sqrt(3)) < 0.1 * bound
    assert (code.conv1.weight[:, :, 0, 0] != 0).all()  # not delta-orthogonal
    paper = AttributionHead.variant("paper", 100, ACTION_DIM, (32, 21, 21), (9, 84, 84))
    assert paper.conv1.weight[:, :, 0, 0].abs().max() == 0 and paper.conv1.bias.abs().max() == 0
    centre = paper.conv1.weight[:, :, 1, 1].detach()  # (64, 32): orthonormal columns x gain
    torch.testing.assert_close(centre.T @ centre, 2.0 * torch.eye(32), atol=1e-5, rtol=1e-5)
    w = paper.linear.weight.detach()  # (14112, 106): orthonormal columns
    torch.testing.assert_close(w.T @ w, torch.eye(106), atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="attribution head"):
        AttributionHead.variant("big", 100, ACTION_DIM, (32, 21, 21), (9, 84, 84))


def test_soda_mlp_is_linear_batchnorm_relu_linear():
    torch.manual_seed(SEED)
    projector = SODAMLP(32 * 21 * 21, 100, 100)
    kinds = [type(m) for m in projector.net]
    assert kinds == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]
    assert _linear_sizes(projector) == [(14112, 100), (100, 100)]
    w = projector.net[3].weight.detach()
    torch.testing.assert_close(w @ w.T, torch.eye(100), atol=1e-4, rtol=1e-4)  # orthogonal
    features = torch.randn(8, 32, 21, 21)
    hidden = projector.net[1](projector.net[0](features.flatten(1)))
    # BatchNorm in training mode: batch statistics
    torch.testing.assert_close(hidden.mean(0), torch.zeros(100), atol=1e-4, rtol=0)
    assert projector(features).shape == (8, 100)


@pytest.mark.parametrize("size", [(21, 21), (5, 7)])
def test_conv3x3_on_upsampled_equals_upsample_then_conv(size):
    torch.manual_seed(SEED)
    conv = nn.Conv2d(6, 5, 3, padding=1)
    x = torch.randn(2, 6, *size, requires_grad=True)
    reference = conv(F.interpolate(x, scale_factor=2, mode="nearest"))
    ours = conv3x3_on_upsampled(x, conv)
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-5)
    grad = torch.randn_like(reference)
    expected = torch.autograd.grad(reference, [x, conv.weight, conv.bias], grad)
    got = torch.autograd.grad(ours, [x, conv.weight, conv.bias], grad)
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-4)


def test_weight_init_orthogonal_linear_and_delta_orthogonal_conv(encoder):
    gain = math.sqrt(2.0)  # ReLU gain of the conv centre taps
    for conv in (m for m in encoder.modules() if isinstance(m, nn.Conv2d)):
        w = conv.weight.detach()
        centre = w[:, :, 1, 1]
        off_centre = w.clone()
        off_centre[:, :, 1, 1] = 0
        assert off_centre.abs().max() == 0
        assert conv.bias.abs().max() == 0
        small = min(centre.shape)
        gram = centre.T @ centre if centre.shape[0] >= centre.shape[1] else centre @ centre.T
        torch.testing.assert_close(gram, gain**2 * torch.eye(small), atol=1e-5, rtol=1e-5)
    linear = Critic(encoder, ACTION_DIM, 100, 1024).q1_head.net[2]
    w = linear.weight.detach()
    torch.testing.assert_close(w @ w.T, torch.eye(1024), atol=1e-4, rtol=1e-4)
    assert linear.bias.abs().max() == 0


def test_encoder_rejects_bad_shapes():
    with pytest.raises(ValueError, match="obs_shape"):
        SharedEncoder((84, 84))
    with pytest.raises(ValueError, match="too small"):
        SharedEncoder((9, 30, 30), num_layers=11)


def test_channels_last_layout_gives_the_same_values(encoder):
    plain = SharedEncoder(OBS_SHAPE, 11, 32, channels_last=False)
    plain.load_state_dict(encoder.state_dict())
    obs = torch.randint(0, 256, (2, *OBS_SHAPE), dtype=torch.uint8)
    torch.testing.assert_close(encoder(obs), plain(obs), rtol=1e-4, atol=1e-5)
