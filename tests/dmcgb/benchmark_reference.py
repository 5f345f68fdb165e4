"""The benchmark's per-pixel compositing, written plainly: a slow reference for tests and bench/.

DMControl-GB resizes the background frame with torch's bilinear interpolation (half-pixel
centres) on values in [0, 1], truncates back to uint8, then walks the frame pixel by pixel and
replaces those whose ``colorsys`` HSV falls in the key window. ``dmcgb.chroma_key`` and
``dmcgb.video`` compute the same thing fast; this module exists to check and time them.
"""

from __future__ import annotations

import colorsys

import numpy as np

from dmcgb.modes import HSV_HIGH, HSV_LOW

__all__ = ["is_key", "resize_background", "composite"]


def is_key(r: int, g: int, b: int) -> bool:
    """The benchmark's decision for one uint8 RGB pixel."""
    h, s, v = colorsys.rgb_to_hsv(r / 255.0, g / 255.0, b / 255.0)
    h, s, v = h * 360, s * 255, v * 255
    return (
        HSV_LOW[0] <= h <= HSV_HIGH[0]
        and HSV_LOW[1] <= s <= HSV_HIGH[1]
        and HSV_LOW[2] <= v <= HSV_HIGH[2]
    )


def resize_background(frame: np.ndarray, size: int) -> np.ndarray:
    """(h, w, 3) uint8 -> (size, size, 3) uint8, as the benchmark resizes (needs torch)."""
    import torch

    x = torch.from_numpy(np.moveaxis(frame, -1, 0).copy()).float().unsqueeze(0) / 255.0
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return np.moveaxis((x * 255.0).byte().squeeze(0).numpy(), 0, -1)


def composite(frame: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Key ``frame`` over ``background`` (same shape) one pixel at a time."""
    out = frame.copy()
    height, width = frame.shape[:2]
    for y in range(height):
        for x in range(width):
            if is_key(int(frame[y, x, 0]), int(frame[y, x, 1]), int(frame[y, x, 2])):
                out[y, x] = background[y, x]
    return out
