"""The camera positions of DMC-GB2's geometric modes, as pure functions.

A position is a rotation of the benchmark camera about its own centre, applied in the camera's
frame (MuJoCo's: x to the image's right, y to its top, the camera looking along -z), so the
camera never moves, it only turns:

* pan, about the camera's y axis (the view swings left or right),
* tilt, about its x axis (the view swings up or down),
* roll, about its z axis (the view axis; the image turns about its centre).

The turned camera's orientation is ``xmat @ shift_matrix(pan, tilt) @ roll_matrix(roll)``, with
``xmat`` the stock camera's (columns: its axes in world coordinates), multiplied in that order
as DMC-GB2 writes it into ``data.cam_xmat``. DMC-GB2's code calls these angles pitch, roll and
yaw.

Each mode has 100 positions, evenly spaced (``POSITIONS``): rotations over a range of roll
angles, shifts on the perimeter of a rectangle of (pan, tilt) corners, 25 per side, and both
at once pairing shift j with roll j. The episode order is a seeded shuffle of the 100.
These are the definitions of DMC-GB2 (Almuzairee, Hansen & Christensen, 2024,
``envs/dmcgb/dmcgb_geometric.py`` at commit 5fd8fd7), written here from its arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "POSITIONS",
    "Geometry",
    "SHIFT_BOUNDS",
    "roll_angles",
    "shift_angles",
    "camera_angles",
    "shift_matrix",
    "roll_matrix",
    "position_order",
]

POSITIONS = 100  # camera positions per mode; an episode shows one

_HARD_ROLL = 180.0  # deg: the hard modes roll the camera within [-180, 180)
_EASY_ROLL_DIVISOR = 2.0  # the easy modes within [-90, 90)
_EASY_SHIFT_DIVISOR = 1.5  # the easy shifts' corners are the hard ones / 1.5

SHIFT_BOUNDS: dict[str, tuple[float, float, float, float]] = {
    # deg: (pan min, pan max, tilt min, tilt max) of the hard shifts, per dm_control domain
    "walker": (-10.0, 10.0, -10.0, 10.0),
    "cheetah": (-10.0, 10.0, -10.0, 10.0),
    "cartpole": (-8.0, 8.0, -10.0, 10.0),
    "finger": (-6.0, 6.0, -6.0, 12.0),
    "ball_in_cup": (-6.0, 6.0, -6.0, 12.0),
}
"""DMC-GB2's per-domain shift bounds (its ``cam_edges``); the domains with geometric modes."""


@dataclass(frozen=True)
class Geometry:
    """What a geometric mode does to the camera.

    Attributes:
        roll: the camera rolls about its view axis, one angle per position.
        shift: the camera pans and tilts towards the image's corners, one pair per position.
        hard: the hard ranges (roll within +-180 deg, the domain's full shift bounds); easy
            halves the roll range and divides the shift bounds by 1.5.
    """

    roll: bool
    shift: bool
    hard: bool


def roll_angles(hard: bool) -> np.ndarray:
    """The 100 roll angles, deg: ``-180 + 3.6 j`` (hard) or ``-90 + 1.8 j`` (easy), j = 0..99."""
    half_range = _HARD_ROLL if hard else _HARD_ROLL / _EASY_ROLL_DIVISOR
    step = 2.0 * half_range / POSITIONS
    return np.arange(POSITIONS) * step - half_range


def shift_angles(domain: str, hard: bool) -> np.ndarray:
    """The 100 (pan, tilt) pairs, deg, shape (100, 2): the perimeter of the corner rectangle.

    Starting at (pan min, tilt min), 25 evenly spaced points per side, each side without its
    end corner, visiting (pan max, tilt min), (pan max, tilt max) and (pan min, tilt max).

    Raises:
        ValueError: ``domain`` has no shift bounds (see ``SHIFT_BOUNDS``).
    """
    if domain not in SHIFT_BOUNDS:
        raise ValueError(
            f"DMC-GB2 defines camera shifts for the domains {sorted(SHIFT_BOUNDS)}, "
            f"actual value: {domain!r}"
        )
    bounds = np.array(SHIFT_BOUNDS[domain])
    if not hard:
        bounds = bounds / _EASY_SHIFT_DIVISOR
    pan_min, pan_max, tilt_min, tilt_max = bounds
    corners = np.array(
        [[pan_min, tilt_min], [pan_max, tilt_min], [pan_max, tilt_max], [pan_min, tilt_max]]
    )
    per_side = POSITIONS // len(corners)
    sides = [
        start + np.arange(per_side)[:, None] * ((end - start) / per_side)
        for start, end in zip(corners, np.roll(corners, -1, axis=0), strict=True)
    ]
    return np.concatenate(sides)


def camera_angles(geometry: Geometry, domain: str) -> np.ndarray:
    """(pan, tilt, roll) of each of the mode's 100 positions, deg, shape (100, 3)."""
    angles = np.zeros((POSITIONS, 3))
    if geometry.shift:
        angles[:, :2] = shift_angles(domain, geometry.hard)
    if geometry.roll:
        angles[:, 2] = roll_angles(geometry.hard)
    return angles


def shift_matrix(pan: float, tilt: float) -> np.ndarray:
    """The camera-frame rotation of a shift, (3, 3): ``R_y(pan) @ R_x(tilt)``, angles in deg."""
    p, t = np.radians(pan), np.radians(tilt)
    about_y = np.array([[np.cos(p), 0.0, np.sin(p)], [0.0, 1.0, 0.0], [-np.sin(p), 0.0, np.cos(p)]])
    about_x = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(t), -np.sin(t)], [0.0, np.sin(t), np.cos(t)]])
    return about_y @ about_x


def roll_matrix(roll: float) -> np.ndarray:
    """The camera-frame rotation of a roll about the view axis, (3, 3): ``R_z(roll)``, deg."""
    r = np.radians(roll)
    return np.array([[np.cos(r), -np.sin(r), 0.0], [np.sin(r), np.cos(r), 0.0], [0.0, 0.0, 1.0]])


def position_order(seed: int) -> np.ndarray:
    """The positions in episode order after seeding with ``seed``, shape (100,) int.

    DMC-GB2 shuffles its list of positions once with ``numpy.random.RandomState(seed)`` and
    shows them in turn, one per episode; this is the same shuffle of the indices 0..99.
    """
    return np.random.RandomState(seed).permutation(POSITIONS)
