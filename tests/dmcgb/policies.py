"""Scripted policies that tests hand to ``python -m dmcgb.evaluate --policy`` (not a test module)."""

from __future__ import annotations

import numpy as np


def zeros(obs: np.ndarray) -> np.ndarray:
    """Always the zero action of a one-dimensional action space (cartpole)."""
    return np.zeros(1, dtype=np.float32)


def seeded(seed: int):
    """A factory: the policy of seed ``seed`` pushes with a constant force set by the seed."""
    force = np.float32(np.tanh(seed - 1.5))
    return lambda obs: np.array([force], dtype=np.float32)


def wrong_shape(obs: np.ndarray) -> np.ndarray:
    return np.zeros(3, dtype=np.float32)
