"""Random shift (replicate pad 4 + random crop) and random overlay."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sgqn.augment import random_overlay, random_shift
from tests.conftest import SEED


def _crops(obs: torch.Tensor, pad: int) -> list[torch.Tensor]:
    """Every HxW crop of the replicate-padded image (the reference semantics)."""
    padded = F.pad(obs.float().unsqueeze(0), (pad,) * 4, mode="replicate")[0]
    h, w = obs.shape[-2:]
    return [padded[:, y : y + h, x : x + w] for y in range(2 * pad + 1) for x in range(2 * pad + 1)]


def test_random_shift_is_a_crop_of_the_replicate_padded_image():
    g = torch.Generator().manual_seed(SEED)
    obs = torch.randint(0, 256, (32, 9, 12, 10), generator=g, dtype=torch.uint8)
    out = random_shift(obs, pad=4, generator=g)
    assert out.shape == obs.shape and out.dtype == torch.uint8
    offsets = set()
    for sample, shifted in zip(obs, out, strict=True):
        matches = [
            i for i, crop in enumerate(_crops(sample, 4)) if torch.equal(crop, shifted.float())
        ]
        assert matches, "output is not a crop of the replicate-padded input"
        offsets.add(matches[0])
    assert len(offsets) > 10  # each sample draws its own offset


def test_random_shift_reproducible_and_identity_without_padding():
    obs = torch.rand(4, 3, 8, 8)
    a = random_shift(obs, 4, generator=torch.Generator().manual_seed(1))
    b = random_shift(obs, 4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert torch.equal(random_shift(obs, 0), obs)
    with pytest.raises(ValueError, match="pad >= 0"):
        random_shift(obs, -1)
    with pytest.raises(ValueError, match="B, C, H, W"):
        random_shift(obs[0], 4)


def test_random_overlay_blends_one_image_into_every_frame():
    g = torch.Generator().manual_seed(SEED)
    obs = torch.randint(0, 256, (2, 9, 5, 5), generator=g, dtype=torch.uint8)
    images = torch.randint(0, 256, (2, 3, 5, 5), generator=g, dtype=torch.uint8)
    out = random_overlay(obs, images, alpha=0.5)
    assert out.dtype == torch.float32 and out.shape == obs.shape
    for f in range(3):
        expected = 0.5 * obs[:, 3 * f : 3 * f + 3].float() + 0.5 * images.float()
        torch.testing.assert_close(out[:, 3 * f : 3 * f + 3], expected)
    torch.testing.assert_close(random_overlay(obs, images, alpha=0.0), obs.float())
    with pytest.raises(ValueError, match="overlay images of shape"):
        random_overlay(obs, images[:, :, :4])
