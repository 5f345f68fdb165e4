"""Image augmentations of the agents, batched on the training device.

Contents:
    random_shift    replicate-pad by `pad` pixels, then a random crop back to the input size
                    (DrQ's shift: drq, svea, svea_soda and SGQN's obs and next_obs).
    random_crop     a random size x size window (RAD, SODA: 100 -> 84).
    center_crop     the central size x size window (what RAD and SODA act on).
    random_overlay  s~ = (1 - alpha) * s + alpha * image, one natural image per sample.
    random_conv     a random 3x3 convolution per sample, sigmoid-squashed (SVEA's option).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["random_shift", "random_crop", "center_crop", "random_overlay", "random_conv"]


def _check_batch(obs: Tensor) -> None:
    if obs.dim() != 4:
        raise ValueError(f"expected obs of shape (B, C, H, W), actual shape: {tuple(obs.shape)}")


def random_shift(obs: Tensor, pad: int = 4, generator: torch.Generator | None = None) -> Tensor:
    """Shift each sample by a random integer offset in [-pad, pad]^2, replicating the edges.

    Equivalent to replicate-padding by `pad` and cropping an HxW window at a random position,
    but done as one gather with clamped indices (no padded copy, no Python loop over the batch).

    Args:
        obs: (B, C, H, W) images, any dtype (uint8 stays uint8).
        pad: maximum shift in pixels.
        generator: optional torch.Generator on obs's device.

    Returns:
        (B, C, H, W) shifted images of obs's dtype.
    """
    _check_batch(obs)
    if pad < 0:
        raise ValueError(f"expected pad >= 0, actual value: {pad}")
    if pad == 0:
        return obs.clone()
    b, c, h, w = obs.shape
    offsets = torch.randint(0, 2 * pad + 1, (b, 2), generator=generator, device=obs.device)
    # Row/column of the source pixel for each output pixel; clamping = replicate padding.
    rows = (torch.arange(h, device=obs.device) + offsets[:, :1] - pad).clamp_(0, h - 1)  # (B, H)
    cols = (torch.arange(w, device=obs.device) + offsets[:, 1:] - pad).clamp_(0, w - 1)  # (B, W)
    return _gather_windows(obs, rows, cols)


def _gather_windows(obs: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """out[i, :, y, x] = obs[i, :, rows[i, y], cols[i, x]]: one window (any pixels) per sample."""
    b, c, h, w = obs.shape
    out_h, out_w = rows.shape[1], cols.shape[1]
    index = (rows[:, :, None] * w + cols[:, None, :]).view(b, 1, out_h * out_w).expand(b, c, -1)
    return torch.gather(obs.reshape(b, c, h * w), 2, index).view(b, c, out_h, out_w)


def _check_crop(obs: Tensor, size: int) -> None:
    _check_batch(obs)
    if not 1 <= size <= min(obs.shape[-2:]):
        raise ValueError(
            f"expected a crop size in [1, {min(obs.shape[-2:])}], actual value: {size}; the "
            "observations must be rendered at least as large as the network's input"
        )


def random_crop(obs: Tensor, size: int, generator: torch.Generator | None = None) -> Tensor:
    """A random size x size window of each sample (one position per sample, all channels).

    Top-left corners are uniform in [0, H - size) x [0, W - size), the range of the
    DMControl-GB / RAD code (its last position is never drawn); a window as large as the image
    returns the image.

    Args:
        obs: (B, C, H, W) images, any dtype.
        size: output height and width.
        generator: optional torch.Generator on obs's device.

    Returns:
        (B, C, size, size) of obs's dtype.
    """
    _check_crop(obs, size)
    b, c, h, w = obs.shape
    if (h, w) == (size, size):
        return obs.clone()
    top = torch.randint(0, max(h - size, 1), (b, 1), generator=generator, device=obs.device)
    left = torch.randint(0, max(w - size, 1), (b, 1), generator=generator, device=obs.device)
    rows = top + torch.arange(size, device=obs.device)  # (B, size)
    cols = left + torch.arange(size, device=obs.device)  # (B, size)
    return _gather_windows(obs, rows, cols)


def center_crop(obs: Tensor, size: int) -> Tensor:
    """The central size x size window (a view): offset (H - size) // 2, as DMControl-GB."""
    _check_crop(obs, size)
    top, left = (obs.shape[-2] - size) // 2, (obs.shape[-1] - size) // 2
    return obs[..., top : top + size, left : left + size]


def random_overlay(obs: Tensor, images: Tensor, alpha: float = 0.5) -> Tensor:
    """Blend each observation with a natural image: (1 - alpha) * obs + alpha * image.

    The same image is blended into every stacked frame of a sample.

    Args:
        obs: (B, 3 * frames, H, W) in pixel units [0, 255] (uint8 or float).
        images: (B, 3, H, W) in pixel units [0, 255] (uint8 or float).
        alpha: weight of the image.

    Returns:
        (B, 3 * frames, H, W) float in pixel units.
    """
    if obs.dim() != 4 or obs.shape[1] % 3:
        raise ValueError(
            f"expected obs of shape (B, 3 * frames, H, W), actual shape: {tuple(obs.shape)}"
        )
    expected = (obs.shape[0], 3, *obs.shape[2:])
    if tuple(images.shape) != expected:
        raise ValueError(
            f"expected overlay images of shape {expected}, actual shape: {tuple(images.shape)}; "
            "the overlay source must give one RGB image per sample at the observation size"
        )
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"expected alpha in [0, 1], actual value: {alpha}")
    frames = obs.shape[1] // 3
    images = images.to(obs.device, torch.float32).repeat(1, frames, 1, 1)
    return torch.lerp(obs.float(), images, alpha)


def random_conv(obs: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """A random 3x3 RGB -> RGB convolution per sample: sigmoid(conv(obs / 255)) * 255.

    Each sample draws its own N(0, 1) weights (3 x 3 x 3 x 3, no bias), applied to each of its
    stacked frames with replicate padding, as the DMControl-GB / SVEA code does (one grouped
    convolution instead of a Python loop over the batch).

    Args:
        obs: (B, 3 * frames, H, W) in pixel units [0, 255].
        generator: optional torch.Generator on obs's device.

    Returns:
        (B, 3 * frames, H, W) float in pixel units, in (0, 255).
    """
    if obs.dim() != 4 or obs.shape[1] % 3:
        raise ValueError(
            f"expected obs of shape (B, 3 * frames, H, W), actual shape: {tuple(obs.shape)}"
        )
    b, c, h, w = obs.shape
    frames = c // 3
    weight = torch.randn(b * 3, 3, 3, 3, generator=generator, device=obs.device)
    # (B, F, 3, H, W) -> (F, B * 3, H, W): one group per sample, each frame a batch element.
    x = obs.float().view(b, frames, 3, h, w).transpose(0, 1).reshape(frames, b * 3, h, w)
    x = F.pad(x / 255.0, (1, 1, 1, 1), mode="replicate")
    out = torch.sigmoid(F.conv2d(x, weight, groups=b)) * 255.0
    return out.view(frames, b, 3, h, w).transpose(0, 1).reshape(b, c, h, w)
