"""Guided-backpropagation attribution of the critic, binarized saliency masks, masked observations.

Contents:
    GuidedReLU          ReLU whose forward takes ``guided``: the graph it builds backpropagates
                        by the guided rule (guided=True) or as an ordinary ReLU (guided=False).
    input_gradient      gradient of an output's sum w.r.t. an input, and nothing else.
    attribution         M(Q, s, a): guided backprop of Q1(s, a) w.r.t. the observation pixels.
    saliency_mask       M_rho: per-sample, per-frame binarization at the rho-quantile.
    masked_observation  keep the salient pixels, set the others to one random value.

Guided backprop is a property of the forward pass, not of a global switch: the critic's
networks take ``guided`` and pass it to their `GuidedReLU`s, which then record a custom
autograd function whose backward clamps negative gradients. A graph built with guided=False
holds plain ``torch.relu`` nodes. Nothing is read at backward time, so `torch.compile` traces
both kinds of pass into graphs of their own (the flag is a Python constant it specialises on),
and no per-module hooks are registered, ever. The price: the consistency loss runs Q1's forward
pass twice (ordinary for L_Q, guided for the mask), as the authors' code does.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor, nn

__all__ = [
    "GuidedReLU",
    "input_gradient",
    "attribution",
    "saliency_mask",
    "masked_observation",
]

_CHANNELS_PER_FRAME = 3  # RGB


class _GuidedReLUFunction(torch.autograd.Function):
    """relu(x) whose backward is guided backprop: only positive gradients where x > 0 pass."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        out = torch.relu(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> Tensor:  # type: ignore[override]
        (out,) = ctx.saved_tensors
        return torch.ops.aten.threshold_backward(grad_out.clamp(min=0), out, 0)


class GuidedReLU(nn.ReLU):
    """A ReLU whose backward pass is guided backprop when its forward is called with guided=True.

    It subclasses `nn.ReLU` so that tools which look for ReLU modules (captum's oracle in the
    tests) still recognise it; called with guided=False (the default) it is `torch.relu`.

    Example:
        >>> x = torch.tensor([-1.0, 2.0, 3.0], requires_grad=True)
        >>> torch.autograd.grad(GuidedReLU()(x, guided=True), x, torch.tensor([5.0, -4.0, 2.0]))
        (tensor([0., 0., 2.]),)
    """

    def __init__(self) -> None:
        super().__init__(inplace=False)

    def forward(self, x: Tensor, guided: bool = False) -> Tensor:
        return _GuidedReLUFunction.apply(x) if guided else torch.relu(x)


def input_gradient(output: Tensor, inputs: Tensor) -> Tensor:
    """Gradient of ``output.sum()`` with respect to ``inputs`` only (no weight gradients).

    The backward rule is the one the forward pass recorded: guided backprop through the
    `GuidedReLU`s of a pass made with guided=True.

    Args:
        output: (B, 1) or (B,) values computed from ``inputs``.
        inputs: the leaf tensor that requires grad, e.g. a (B, C, H, W) observation.

    Returns:
        A tensor shaped like ``inputs``.
    """
    (grad,) = torch.autograd.grad(output.sum(), inputs)
    return grad


class _QFirstHead(Protocol):
    def q1(self, obs: Tensor, action: Tensor, guided: bool = False) -> Tensor: ...


def attribution(critic: _QFirstHead, obs: Tensor, action: Tensor) -> Tensor:
    """M(Q, s, a): guided backpropagation of Q1(s, a) with respect to the observation pixels.

    Args:
        critic: a critic with a `q1(obs, action, guided) -> (B, 1)` method built on
            `GuidedReLU`.
        obs: (B, C, H, W) observation, uint8 or float in pixel units [0, 255].
        action: (B, A) actions.

    Returns:
        (B, C, H, W) float gradient of Q1 w.r.t. the observation (in pixel units).
    """
    with torch.enable_grad():
        obs_in = obs.detach()
        obs_in = (obs_in if obs_in.is_floating_point() else obs_in.float()).requires_grad_(True)
        q1 = critic.q1(obs_in, action.detach(), guided=True)
        return input_gradient(q1, obs_in)


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
