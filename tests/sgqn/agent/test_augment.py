"""Random shift (replicate pad 4 + random crop) and random overlay."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sgqn.agent.augment import center_crop, random_conv, random_crop, random_overlay, random_shift
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


def test_random_crop_takes_windows_at_offsets_below_the_margin():
    """RAD / DMControl-GB: 100 -> 84 windows with corners in [0, 16) (the code's range)."""
    g = torch.Generator().manual_seed(SEED)
    obs = torch.randint(0, 256, (64, 9, 100, 100), generator=g, dtype=torch.uint8)
    out = random_crop(obs, 84, generator=g)
    assert out.shape == (64, 9, 84, 84) and out.dtype == torch.uint8
    corners = set()
    for sample, crop in zip(obs, out, strict=True):
        found = [
            (y, x)
            for y in range(17)
            for x in range(17)
            if torch.equal(sample[:, y : y + 84, x : x + 84], crop)
        ]
        assert len(found) == 1
        corners.add(found[0])
    assert all(y < 16 and x < 16 for y, x in corners)
    assert len({y for y, _ in corners}) > 8 and len({x for _, x in corners}) > 8
    assert torch.equal(random_crop(obs, 100), obs)
    with pytest.raises(ValueError, match="crop size"):
        random_crop(obs, 101)


def test_center_crop_is_the_middle_window():
    obs = torch.arange(2 * 3 * 100 * 100).view(2, 3, 100, 100)
    assert torch.equal(center_crop(obs, 84), obs[:, :, 8:92, 8:92])  # DMControl-GB: p = 8
    assert torch.equal(center_crop(obs, 100), obs)


def test_random_conv_matches_a_per_sample_convolution():
    """Per sample: N(0, 1) 3x3x3x3 weights shared by its frames, replicate pad, sigmoid * 255."""
    g = torch.Generator().manual_seed(SEED)
    obs = torch.randint(0, 256, (4, 9, 10, 12), generator=g, dtype=torch.uint8)
    out = random_conv(obs, generator=torch.Generator().manual_seed(3))
    weights = torch.randn(4 * 3, 3, 3, 3, generator=torch.Generator().manual_seed(3))
    assert out.shape == obs.shape and out.dtype == torch.float32
    for i in range(4):
        w = weights[3 * i : 3 * i + 3]  # (out, in, 3, 3) of sample i
        for f in range(3):
            frame = obs[i, 3 * f : 3 * f + 3].float() / 255
            padded = F.pad(frame[None], (1, 1, 1, 1), mode="replicate")[0]
            expected = torch.zeros(3, 10, 12)
            for o in range(3):
                for c in range(3):
                    for dy in range(3):
                        for dx in range(3):
                            expected[o] += w[o, c, dy, dx] * padded[c, dy : dy + 10, dx : dx + 12]
            torch.testing.assert_close(
                out[i, 3 * f : 3 * f + 3], torch.sigmoid(expected) * 255, rtol=1e-4, atol=1e-3
            )
    assert 0 < out.min() and out.max() < 255
