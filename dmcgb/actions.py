"""Argument checks shared by every dmcgb env: a bad action fails before the physics is touched."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

__all__ = ["check_action", "check_int"]


def check_action(action, space: spaces.Box) -> np.ndarray:
    """Return ``action`` as a float64 array of ``space``'s shape, or raise.

    Values outside the bounds are left to the env, whose ``step`` clips them to the bounds;
    NaN and infinity are refused because the simulators turn them into a silently reset or
    diverged state.

    Raises:
        ValueError: the action has the wrong number of elements, or holds NaN or infinity;
            the message shows the action.
    """
    array = np.asarray(action, dtype=np.float64)
    if array.size != int(np.prod(space.shape)):
        raise ValueError(
            f"expected an action of shape {space.shape}, actual shape: {array.shape} ({action!r})"
        )
    array = array.reshape(space.shape)
    if not np.isfinite(array).all():
        bad = np.flatnonzero(~np.isfinite(array)).tolist()
        raise ValueError(
            f"the action holds NaN or infinity at index {bad}: {array!r}; the physics was not "
            "stepped. A policy that outputs NaN has usually diverged (check its loss)"
        )
    return array


def check_int(label: str, value, minimum: int = 1) -> None:
    """Raise ValueError unless ``value`` is an int (not a bool) >= ``minimum``."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{label} must be an int >= {minimum}, actual value: {value!r}")
