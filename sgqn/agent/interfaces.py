"""What the agent takes and gives: minibatches, the samplers and image streams it draws from,
and its saliency maps.

Contents:
    Batch          one sampled minibatch (uint8 pixels, float actions/rewards, not_done).
    Sampler        where an update may draw an extra batch (the replay buffer).
    OverlaySource  protocol of the natural-image stream of the overlay augmentations.
    SaliencyMaps   network input, attribution, binarized mask and predicted mask, for figures.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

from torch import Tensor

__all__ = ["Batch", "Sampler", "OverlaySource", "SaliencyMaps"]


class Batch(NamedTuple):
    """A sampled minibatch, on the sampler's device."""

    obs: Tensor  # (B, 3k, H, W) uint8
    action: Tensor  # (B, A) float32
    reward: Tensor  # (B, 1) float32
    next_obs: Tensor  # (B, 3k, H, W) uint8
    not_done: Tensor  # (B, 1) float32; 0 only on termination, never on truncation


class Sampler(Protocol):
    """Where an update draws an extra batch (SODA's): the replay buffer."""

    def sample(self, batch_size: int) -> Batch: ...


@runtime_checkable
class OverlaySource(Protocol):
    """Natural images for the overlay augmentation s~ = (1 - alpha) s + alpha image."""

    def images(self, start: int, n: int) -> Tensor:
        """Images start..start + n - 1 of the run's stream: (n, 3, H, W) uint8 on the agent's
        device, H and W those of the network's input; a pure function of (start, n)."""
        ...


class SaliencyMaps(NamedTuple):
    """Maps of one batch of observations, each (B, C, H, W) at the network's input size."""

    observation: Tensor  # what the network saw (the centre crop for rad and soda)
    attribution: Tensor  # guided backprop of Q1 w.r.t. the pixels
    mask: Tensor  # M_rho, zeros and ones
    predicted: Tensor | None  # sigmoid(M_theta), None without the attribution head
