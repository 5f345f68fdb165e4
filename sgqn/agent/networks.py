"""Networks of SG-SAC: the shared conv encoder, projections, critic, actor and attribution head.

Contents:
    weight_init      orthogonal linear layers, delta-orthogonal convolutions (DMC-GB / SAC-AE).
    SharedEncoder    f: 11 conv 3x3 layers, 32 filters, stride 2 then 1, no padding (84 -> 21).
    Projection       linear -> LayerNorm -> tanh (to 100 features).
    QHead            MLP (100 + |A|) -> 1024 -> 1024 -> 1.
    Critic           shared encoder + own projection + two Q heads.
    Actor            own projection on DETACHED conv features + tanh-squashed Gaussian policy.
    AttributionHead  M_theta: critic embedding + action -> 9 x 84 x 84 saliency logits.
    SODAMLP          SODA's projector / predictor: linear -> BatchNorm -> ReLU -> linear.
    conv3x3_on_upsampled  conv(nearest 2x upsample(x)) as one stride-2 transposed conv.
    compile_networks torch.compile each of these networks in a module, in place.

The critic's ReLUs (encoder and Q heads) are `GuidedReLU`s and its forward passes take ``guided``
(``Critic.q1(obs, action, guided=True)``), so guided backprop needs no hooks and no global switch.
Architecture facts follow the DMControl-GB SAC code the authors built on: ReLU between the convs
but none after the last one; the encoder divides pixels by 255 itself.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sgqn.agent.saliency import GuidedReLU

__all__ = [
    "weight_init",
    "SharedEncoder",
    "Projection",
    "QHead",
    "Critic",
    "Actor",
    "AttributionHead",
    "ATTRIBUTION_HEADS",
    "SODAMLP",
    "conv3x3_on_upsampled",
    "compile_networks",
]


def weight_init(module: nn.Module) -> None:
    """Orthogonal linear weights; delta-orthogonal conv weights (ReLU gain); zero biases."""
    if isinstance(module, nn.Linear):
        nn.init.orthogonal_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Conv2d):
        # Delta-orthogonal (Xiao et al. 2018): only the kernel centre is non-zero.
        kh, kw = module.kernel_size
        if kh != kw:
            raise ValueError(f"expected a square kernel, actual size: {module.kernel_size}")
        with torch.no_grad():
            module.weight.zero_()
            nn.init.orthogonal_(
                module.weight[:, :, kh // 2, kw // 2], nn.init.calculate_gain("relu")
            )
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def _sequential(layers: nn.Sequential, x: Tensor, guided: bool) -> Tensor:
    """Run ``layers`` in order, telling each `GuidedReLU` whether the pass is guided."""
    for layer in layers:
        x = layer(x, guided=guided) if isinstance(layer, GuidedReLU) else layer(x)
    return x


def _conv_out(size: int, stride: int) -> int:
    """Output size of a 3x3 unpadded convolution."""
    return (size - 3) // stride + 1


class SharedEncoder(nn.Module):
    """f: the convolutional encoder shared by the critic and (detached) the actor.

    Args:
        obs_shape: (C, H, W) of the observation, C = 3 * frame_stack.
        num_layers: conv layers (11 in the paper).
        num_filters: filters per layer (32).

        channels_last: run the convolutions in NHWC memory layout (same values, faster).

    Input is uint8 or float in pixel units [0, 255]; output is (B, num_filters, 21, 21) for 84x84.
    """

    def __init__(
        self,
        obs_shape: tuple[int, ...],
        num_layers: int = 11,
        num_filters: int = 32,
        channels_last: bool = True,
    ):
        super().__init__()
        if len(obs_shape) != 3:
            raise ValueError(f"expected obs_shape (C, H, W), actual value: {obs_shape}")
        if num_layers < 1:
            raise ValueError(f"expected num_layers >= 1, actual value: {num_layers}")
        channels, height, width = obs_shape
        layers: list[nn.Module] = [nn.Conv2d(channels, num_filters, 3, stride=2)]
        for _ in range(num_layers - 1):
            layers += [GuidedReLU(), nn.Conv2d(num_filters, num_filters, 3, stride=1)]
        self.layers = nn.Sequential(*layers)
        h, w = _conv_out(height, 2), _conv_out(width, 2)
        h, w = h - 2 * (num_layers - 1), w - 2 * (num_layers - 1)
        if h < 1 or w < 1:
            raise ValueError(f"observation {obs_shape} is too small for {num_layers} conv layers")
        self.out_shape: tuple[int, int, int] = (num_filters, h, w)
        self.out_dim = num_filters * h * w
        self.apply(weight_init)
        # NHWC convolutions are markedly faster with oneDNN on CPU and with cuDNN tensor cores.
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.to(memory_format=self.memory_format)

    def forward(self, obs: Tensor, guided: bool = False) -> Tensor:
        """Conv features of pixels; guided=True records guided-backprop ReLUs."""
        x = (obs if obs.is_floating_point() else obs.float()) * (1.0 / 255.0)
        return _sequential(self.layers, x.contiguous(memory_format=self.memory_format), guided)


class Projection(nn.Module):
    """Linear -> LayerNorm -> tanh, from flattened conv features to `out_dim` features."""

    def __init__(self, in_dim: int, out_dim: int = 100):
        super().__init__()
        self.out_dim = out_dim
        self.net = nn.Sequential(nn.Linear(in_dim, out_dim), nn.LayerNorm(out_dim), nn.Tanh())
        self.apply(weight_init)

    def forward(self, features: Tensor) -> Tensor:
        return self.net(features.flatten(1))


class QHead(nn.Module):
    """Q(z, a): MLP (embed_dim + action_dim) -> hidden -> hidden -> 1 with (guided) ReLUs."""

    def __init__(self, embed_dim: int, action_dim: int, hidden_dim: int = 1024):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(embed_dim + action_dim, hidden_dim),
            GuidedReLU(),
            nn.Linear(hidden_dim, hidden_dim),
            GuidedReLU(),
            nn.Linear(hidden_dim, 1),
        )
        self.apply(weight_init)

    def forward(self, embedding: Tensor, action: Tensor, guided: bool = False) -> Tensor:
        """Q of an embedding and an action; guided=True records guided-backprop ReLUs."""
        return _sequential(self.net, torch.cat([embedding, action], dim=1), guided)


class Critic(nn.Module):
    """Twin Q-network on the shared encoder, with its own projection.

    Args:
        encoder: the shared conv encoder (owned here; the actor only reads its features).
        action_dim: |A|.
        projection_dim: embedding size (100).
        hidden_dim: Q-head width (1024).
    """

    def __init__(
        self,
        encoder: SharedEncoder,
        action_dim: int,
        projection_dim: int = 100,
        hidden_dim: int = 1024,
    ):
        super().__init__()
        self.encoder = encoder
        self.projection = Projection(encoder.out_dim, projection_dim)
        self.q1_head = QHead(projection_dim, action_dim, hidden_dim)
        self.q2_head = QHead(projection_dim, action_dim, hidden_dim)

    def forward(self, obs: Tensor, action: Tensor) -> tuple[Tensor, Tensor]:
        """(Q1, Q2), each (B, 1), of pixel observations."""
        return self.q_values(self.encoder(obs), action)

    def q_values(self, features: Tensor, action: Tensor) -> tuple[Tensor, Tensor]:
        """(Q1, Q2) from conv features (B, 32, 21, 21)."""
        z = self.projection(features)
        return self.q1_head(z, action), self.q2_head(z, action)

    def q1(self, obs: Tensor, action: Tensor, guided: bool = False) -> Tensor:
        """Q1 only (what the attribution differentiates, with guided=True)."""
        features = self.encoder(obs, guided=guided)
        return self.q1_head(self.projection(features), action, guided=guided)


class Actor(nn.Module):
    """Tanh-squashed Gaussian policy on DETACHED shared conv features, with its own projection.

    The log-std is squashed with tanh and rescaled affinely into [log_std_min, log_std_max],
    as the DMC-GB SAC code does.

    Args:
        feature_dim: flattened conv feature size (32 * 21 * 21).
        action_dim: |A|.
        projection_dim: embedding size (100).
        hidden_dim: MLP width (1024).
        log_std_min, log_std_max: bounds of the log standard deviation (-10, 2).
    """

    def __init__(
        self,
        feature_dim: int,
        action_dim: int,
        projection_dim: int = 100,
        hidden_dim: int = 1024,
        log_std_min: float = -10.0,
        log_std_max: float = 2.0,
    ):
        super().__init__()
        if not log_std_min < log_std_max:
            raise ValueError(
                f"expected log_std_min < log_std_max, actual values: {log_std_min}, {log_std_max}"
            )
        self.log_std_min = log_std_min
        self.log_std_max = log_std_max
        self.projection = Projection(feature_dim, projection_dim)
        self.mlp = nn.Sequential(
            nn.Linear(projection_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, 2 * action_dim),
        )
        self.mlp.apply(weight_init)

    def forward(
        self, features: Tensor, compute_pi: bool = True, compute_log_pi: bool = True
    ) -> tuple[Tensor, Tensor | None, Tensor | None, Tensor]:
        """Policy from conv features; gradients never reach the encoder.

        Returns:
            mu (B, A) squashed mean, pi (B, A) squashed sample or None, log_pi (B, 1) or None,
            log_std (B, A).
        """
        mu, log_std = self.mlp(self.projection(features.detach())).chunk(2, dim=-1)
        log_std = torch.tanh(log_std)
        log_std = self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (log_std + 1)
        pi = log_pi = None
        if compute_pi or compute_log_pi:
            noise = torch.randn_like(mu)
            pi = mu + noise * log_std.exp()
            if compute_log_pi:
                # Gaussian log-density of the pre-squash sample, then the tanh change of variables.
                log_pi = (-0.5 * noise.pow(2) - log_std).sum(-1, keepdim=True)
                log_pi = log_pi - 0.5 * math.log(2 * math.pi) * noise.size(-1)
            pi = torch.tanh(pi)
            if compute_log_pi:
                log_pi = log_pi - torch.log(F.relu(1 - pi.pow(2)) + 1e-6).sum(-1, keepdim=True)
            if not compute_pi:
                pi = None
        return torch.tanh(mu), pi, log_pi, log_std


def _fold_taps(kernel: Tensor, dim: int) -> Tensor:
    """Fold a 3-tap kernel axis onto the 4 taps of a stride-2 transposed conv.

    Output row 2m reads input rows m - 1 (tap w0) and m (w1 + w2); row 2m + 1 reads m (w0 + w1)
    and m + 1 (w2). In transposed-conv tap order that is [w2, w1 + w2, w0 + w1, w0].
    """
    w0, w1, w2 = kernel.unbind(dim)
    return torch.stack([w2, w1 + w2, w0 + w1, w0], dim)


def conv3x3_on_upsampled(x: Tensor, conv: nn.Conv2d) -> Tensor:
    """conv(2x nearest-upsampled x) for a 3x3, padding-1 conv, computed at x's resolution.

    Nearest upsampling followed by a convolution is a stride-2 transposed convolution with a
    4x4 kernel whose taps are sums of the 3x3 taps: the same values for 16/36 of the
    multiply-adds, and no upsampled copy of x in memory.

    Args:
        x: (B, I, h, w).
        conv: a Conv2d with a 3x3 kernel, stride 1, padding 1.

    Returns:
        (B, O, 2h, 2w), equal to conv(F.interpolate(x, scale_factor=2)) up to float rounding.
    """
    assert conv.kernel_size == (3, 3) and conv.padding == (1, 1) and conv.stride == (1, 1)
    weight = _fold_taps(_fold_taps(conv.weight, 2), 3).transpose(0, 1)  # (I, O, 4, 4)
    return F.conv_transpose2d(x, weight, conv.bias, stride=2, padding=1)


# The two variants of M_theta: (filters of the two hidden convs, initialisation).
ATTRIBUTION_HEADS: dict[str, tuple[tuple[int, int], str]] = {
    "code": ((128, 64), "pytorch"),  # the authors' code (the published numbers)
    "paper": ((64, 64), "orthogonal"),  # the paper's appendix text
}


class AttributionHead(nn.Module):
    """M_theta: predicts the binarized saliency mask from the critic embedding and the action.

    linear (embed + |A| -> 32x21x21) -> ReLU -> conv3x3(c1, pad 1) -> ReLU -> 2x upsample
    -> conv3x3(c2, pad 1) -> ReLU -> 2x upsample -> conv3x3(out_channels, pad 1): logits of
    shape (9, 84, 84) for the paper's sizes (21 -> 42 -> 84). Each conv that follows an
    upsampling runs at the low resolution (`conv3x3_on_upsampled`: same values, 16/36 of the
    work). When the sizes are not exactly 2x (smaller test encoders) the second upsampling
    goes to `out_shape`'s height and width.

    Args:
        embed_dim: critic embedding size (100).
        action_dim: |A|.
        feature_shape: (C, H, W) of the encoder output the linear layer reshapes to.
        out_shape: (C, H, W) of the observation, e.g. (9, 84, 84).
        hidden_channels: filters (c1, c2) of the two hidden convs: (128, 64) in the authors'
            code, (64, 64) in the paper's text.
        init: ``"pytorch"`` (PyTorch's default initialisation, as the authors' code) or
            ``"orthogonal"`` (orthogonal linear, delta-orthogonal convs, as the other networks).
    """

    def __init__(
        self,
        embed_dim: int,
        action_dim: int,
        feature_shape: tuple[int, int, int] = (32, 21, 21),
        out_shape: tuple[int, int, int] = (9, 84, 84),
        hidden_channels: tuple[int, int] = (128, 64),
        init: str = "pytorch",
    ):
        super().__init__()
        if init not in ("pytorch", "orthogonal"):
            raise ValueError(f"expected init 'pytorch' or 'orthogonal', actual value: {init!r}")
        self.feature_shape = tuple(feature_shape)
        self.out_shape = tuple(out_shape)
        c, h, w = self.feature_shape
        c1, c2 = hidden_channels
        self.linear = nn.Linear(embed_dim + action_dim, c * h * w)
        self.conv1 = nn.Conv2d(c, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.conv_out = nn.Conv2d(c2, self.out_shape[0], 3, padding=1)
        if init == "orthogonal":
            self.apply(weight_init)
        self.to(memory_format=torch.channels_last)  # see SharedEncoder

    @classmethod
    def variant(
        cls,
        name: str,
        embed_dim: int,
        action_dim: int,
        feature_shape: tuple[int, int, int],
        out_shape: tuple[int, int, int],
    ) -> AttributionHead:
        """The head ``"code"`` or ``"paper"`` of :data:`ATTRIBUTION_HEADS`."""
        if name not in ATTRIBUTION_HEADS:
            raise ValueError(
                f"expected an attribution head in {sorted(ATTRIBUTION_HEADS)}, actual value: {name!r}"
            )
        channels, init = ATTRIBUTION_HEADS[name]
        return cls(embed_dim, action_dim, feature_shape, out_shape, channels, init)

    def forward(self, embedding: Tensor, action: Tensor) -> Tensor:
        x = self.linear(torch.cat([embedding, action], dim=1)).view(-1, *self.feature_shape)
        x = torch.relu(x).contiguous(memory_format=torch.channels_last)
        x = torch.relu(self.conv1(x))
        # Upsample (21 -> 42) then conv2, computed at 21x21; ReLU commutes with the upsampling.
        x = torch.relu(conv3x3_on_upsampled(x, self.conv2))
        if (2 * x.shape[-2], 2 * x.shape[-1]) == tuple(self.out_shape[1:]):
            return conv3x3_on_upsampled(x, self.conv_out)  # upsample 42 -> 84, then conv_out
        # Sizes other than the paper's (small test encoders): upsample to the obs size.
        return self.conv_out(F.interpolate(x, size=self.out_shape[1:], mode="nearest"))


class SODAMLP(nn.Module):
    """SODA's projector and predictor: linear -> BatchNorm1d -> ReLU -> linear (orthogonal init).

    The input is flattened first, so the projector reads conv features (B, 32, 21, 21) and the
    predictor reads projections (B, 100).
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden_dim),
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, out_dim),
        )
        self.apply(weight_init)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1))


# The networks compile_networks compiles: each is one graph per kind of pass (guided or not,
# with or without gradients, ...); the Critic is glue around three of them.
_COMPILED = (SharedEncoder, Projection, QHead, Actor, AttributionHead, SODAMLP)
_RECOMPILES = 32  # graphs one network's forward may compile before dynamo gives up on it


def compile_networks(module: nn.Module) -> None:
    """``torch.compile`` (inductor) each network of :data:`_COMPILED` inside ``module``, in place.

    ``nn.Module.compile`` keeps parameter names, so state dicts and checkpoints are those of
    eager modules. Random numbers drawn inside a compiled network (the actor's noise) come
    from torch's own kernels (``fallback_random``), in eager's order, so a seed gives the same
    samples compiled or not and the rest of the run's random stream stays aligned.
    """
    # A network compiles one graph per kind of pass (with or without gradients, guided, frozen
    # target weights, uint8 or float pixels) and per batch-size regime: the encoder needs more
    # than dynamo's default of 8, past which it would silently run eagerly.
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, _RECOMPILES)
    if isinstance(module, _COMPILED):
        module.compile(options={"fallback_random": True})
        return
    for child in module.children():
        compile_networks(child)
