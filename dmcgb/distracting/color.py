"""Colour distraction: every material's RGB drifts within +- max_delta of its original.

At reset each channel of each material is drawn uniformly in
``[clip(original - max_delta, 0, 1), clip(original + max_delta, 0, 1)]``; at each change it
takes a Gaussian step of std ``step_std`` and is clipped back into that interval. Alpha is
left alone. Semantics of DMControl-GB's ``distracting_control/color.py``; pure functions of
arrays and draws.
"""

from __future__ import annotations

import numpy as np

__all__ = ["color_bounds", "sample_colors", "walk_colors"]


def color_bounds(original: np.ndarray, max_delta: float) -> tuple[np.ndarray, np.ndarray]:
    """(low, high), each like ``original`` ((n_materials, 3) RGB in [0, 1])."""
    return np.clip(original - max_delta, 0.0, 1.0), np.clip(original + max_delta, 0.0, 1.0)


def sample_colors(rng: np.random.Generator, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Colours drawn uniformly between ``low`` and ``high``, channel by channel."""
    return low + rng.random(low.shape) * (high - low)


def walk_colors(
    rgb: np.ndarray, noise: np.ndarray, step_std: float, low: np.ndarray, high: np.ndarray
) -> np.ndarray:
    """One change: ``rgb + noise * step_std`` clipped into [low, high] (noise standard normal)."""
    return np.clip(rgb + noise * step_std, low, high)
