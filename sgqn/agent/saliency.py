"""Guided-backpropagation attribution of the critic, binarized saliency masks, masked observations.

Contents:
    GuidedReLU          ReLU whose backward switches to guided backprop inside `guided_backward()`.
    guided_backward     context manager: ReLU backward passes become guided while it is open.
    guided_gradient     guided gradient of an already computed output w.r.t. an input (reuses a graph).
    attribution         M(Q, s, a): guided backprop of Q1(s, a) w.r.t. the observation pixels.
    saliency_mask       M_rho: per-sample, per-frame binarization at the rho-quantile.
    masked_observation  keep the salient pixels, set the others to one random value.

Guided backprop is native: every ReLU of the critic is a `GuidedReLU`, a custom autograd function
whose backward reads one module-level switch. The forward pass is the same in both modes, so one
forward graph serves the critic's TD loss (ordinary backward) and its attribution (guided backward,
with `retain_graph=True`). No per-module hooks are registered, ever.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Protocol

import torch
from torch import Tensor, nn

__all__ = [
    "GuidedReLU",
    "guided_backward",
    "guided_gradient",
    "attribution",
    "saliency_mask",
    "masked_observation",
]

_CHANNELS_PER_FRAME = 3  # RGB


class _BackwardMode:
    """The one switch read by every GuidedReLU backward (a plain object: the autograd engine
    runs CUDA backward passes on its own threads, so a thread-local would not be seen there)."""

    guided: bool = False


_MODE = _BackwardMode()


class _GuidedReLUFunction(torch.autograd.Function):
    """relu(x); backward is the ordinary ReLU gradient, or the guided one when the switch is on."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        out = torch.relu(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> Tensor:  # type: ignore[override]
        (out,) = ctx.saved_tensors
        if _MODE.guided:
            # Guided backprop: drop negative gradients as well as those where the input was <= 0.
            grad_out = grad_out.clamp(min=0)
        return torch.ops.aten.threshold_backward(grad_out, out, 0)


class GuidedReLU(nn.ReLU):
    """A ReLU whose backward pass becomes guided backprop inside `guided_backward()`.

    It subclasses `nn.ReLU` so that tools which look for ReLU modules (captum's oracle in the
    tests) still recognise it; outside `guided_backward()` it behaves exactly like `nn.ReLU`.
    """

    def __init__(self) -> None:
        super().__init__(inplace=False)

    def forward(self, x: Tensor) -> Tensor:
        return _GuidedReLUFunction.apply(x)


@contextlib.contextmanager
def guided_backward() -> Iterator[None]:
    """While open, backward passes through `GuidedReLU`s apply the guided-backprop rule."""
    previous = _MODE.guided
    _MODE.guided = True
    try:
        yield
    finally:
        _MODE.guided = previous


def guided_gradient(output: Tensor, inputs: Tensor, retain_graph: bool = False) -> Tensor:
    """Guided-backprop gradient of `output.sum()` with respect to `inputs`.

    Only input gradients are computed (no weight gradients). Pass `retain_graph=True` to reuse
    the same forward graph afterwards for an ordinary backward pass (e.g. the critic loss).

    Args:
        output: (B, 1) or (B,) values computed from `inputs` through networks built on GuidedReLU.
        inputs: the leaf tensor that requires grad, e.g. a (B, C, H, W) observation.
        retain_graph: keep the graph for another backward pass.

    Returns:
        A tensor shaped like `inputs`.
    """
    with guided_backward():
        (grad,) = torch.autograd.grad(output.sum(), inputs, retain_graph=retain_graph)
    return grad


class _QFirstHead(Protocol):
    def q1(self, obs: Tensor, action: Tensor) -> Tensor: ...


def attribution(critic: _QFirstHead, obs: Tensor, action: Tensor) -> Tensor:
    """M(Q, s, a): guided backpropagation of Q1(s, a) with respect to the observation pixels.

    Args:
        critic: a critic with a `q1(obs, action) -> (B, 1)` method built on `GuidedReLU`.
        obs: (B, C, H, W) observation, uint8 or float in pixel units [0, 255].
        action: (B, A) actions.

    Returns:
        (B, C, H, W) float gradient of Q1 w.r.t. the observation (in pixel units).
    """
    with torch.enable_grad():
        obs_in = obs.detach()
        obs_in = (obs_in if obs_in.is_floating_point() else obs_in.float()).requires_grad_(True)
        q1 = critic.q1(obs_in, action.detach())
        return guided_gradient(q1, obs_in)


def saliency_mask(attribution: Tensor, quantile: float) -> Tensor:
    """M_rho: binarize an attribution map per sample and per stacked frame.

    For each frame, the map is the max of |attribution| over its 3 channels; a pixel is 1 if its
    value is at or above that frame's `quantile` (torch.quantile, linear interpolation), else 0.
    A frame's mask is repeated over its 3 channels. Ties at the threshold are kept (>=), so a
    constant frame gets an all-ones mask.

    Args:
        attribution: (B, C, H, W) with C a multiple of 3 (frames oldest to newest).
        quantile: rho in [0, 1].

    Returns:
        (B, C, H, W) float tensor of zeros and ones, in attribution's dtype.
    """
    if attribution.dim() != 4 or attribution.shape[1] % _CHANNELS_PER_FRAME:
        raise ValueError(
            "expected an attribution of shape (B, 3 * frames, H, W), "
            f"actual shape: {tuple(attribution.shape)}"
        )
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"expected a quantile in [0, 1], actual value: {quantile}")
    b, c, h, w = attribution.shape
    frames = c // _CHANNELS_PER_FRAME
    per_frame = attribution.abs().reshape(b, frames, _CHANNELS_PER_FRAME, h * w).amax(dim=2)
    threshold = _upper_quantile(per_frame, quantile)  # (B, F, 1)
    keep = per_frame >= threshold  # (B, F, H*W)
    mask = keep.unsqueeze(2).expand(b, frames, _CHANNELS_PER_FRAME, h * w)
    return mask.reshape(b, c, h, w).to(attribution.dtype)


def _upper_quantile(values: Tensor, quantile: float) -> Tensor:
    """torch.quantile(values, quantile, dim=-1, keepdim=True) (linear interpolation), faster.

    A high quantile only needs the top of each row: topk of the n - floor(q (n - 1)) largest
    values (no full sort) gives the two order statistics the interpolation needs.
    """
    n = values.shape[-1]
    # The rank in the values' precision, exactly as torch.quantile computes it (host-side).
    position = torch.tensor(quantile, dtype=values.dtype) * (n - 1)
    below = min(int(position.floor()), n - 1)
    weight = float(position - below)
    if quantile < 0.5:  # the bottom of the row is then the smaller selection
        return torch.quantile(values, quantile, dim=-1, keepdim=True)
    top = torch.topk(values, n - below, dim=-1, sorted=False).values
    if weight == 0.0 or n - below < 2:
        return top.amin(dim=-1, keepdim=True)
    low, high = torch.topk(top, 2, dim=-1, largest=False, sorted=True).values.split(1, dim=-1)
    return torch.lerp(low, high, weight)


def masked_observation(
    obs: Tensor, mask: Tensor, generator: torch.Generator | None = None
) -> Tensor:
    """Keep the pixels where mask is 1; set all others to ONE random value for the whole batch.

    The value is drawn uniformly between the batch's min and max pixel (the authors' choice),
    on the device, so this never waits for the host.

    Args:
        obs: (B, C, H, W) observation in pixel units (uint8 or float).
        mask: (B, C, H, W) zeros and ones (or bool).
        generator: optional torch.Generator on obs's device, for reproducibility.

    Returns:
        (B, C, H, W) float observation.
    """
    if obs.shape != mask.shape:
        raise ValueError(
            f"expected obs and mask of the same shape, actual: {tuple(obs.shape)} "
            f"and {tuple(mask.shape)}"
        )
    obs = obs.float()
    low, high = obs.min(), obs.max()
    u = torch.rand((), generator=generator, device=obs.device)
    fill = low + (high - low) * u
    return torch.where(mask.bool(), obs, fill)
