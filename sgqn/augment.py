"""Image augmentations of SG-SAC, batched on the training device.

Contents:
    random_shift    replicate-pad by `pad` pixels, then a random crop back to the input size
                    (DrQ's shift; the critic's augmentation of obs and next_obs).
    random_overlay  s~ = (1 - alpha) * s + alpha * image, one natural image per sample.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["random_shift", "random_overlay"]


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
    if obs.dim() != 4:
        raise ValueError(f"expected obs of shape (B, C, H, W), actual shape: {tuple(obs.shape)}")
    if pad < 0:
        raise ValueError(f"expected pad >= 0, actual value: {pad}")
    if pad == 0:
        return obs.clone()
    b, c, h, w = obs.shape
    offsets = torch.randint(0, 2 * pad + 1, (b, 2), generator=generator, device=obs.device)
    # Row/column of the source pixel for each output pixel; clamping = replicate padding.
    rows = (torch.arange(h, device=obs.device) + offsets[:, :1] - pad).clamp_(0, h - 1)  # (B, H)
    cols = (torch.arange(w, device=obs.device) + offsets[:, 1:] - pad).clamp_(0, w - 1)  # (B, W)
    index = (rows[:, :, None] * w + cols[:, None, :]).view(b, 1, h * w).expand(b, c, h * w)
    return torch.gather(obs.reshape(b, c, h * w), 2, index).view(b, c, h, w)


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
