"""DMC-GB2's geometric test distributions: the benchmark camera rolled, shifted, or both.

DMC-GB2 (Almuzairee, Hansen & Christensen, 2024, "A Recipe for Unbounded Data Augmentation in
Visual Reinforcement Learning", ``envs/dmcgb/dmcgb_geometric.py``) turns the camera about its
own centre: it rolls about the view axis (``rotate``), pans and tilts towards the image's
corners within per-domain bounds (``shift``), or both (``rotate_shift``), each at an easy and a
hard level. One of 100 evenly spaced positions is held for a whole episode; the episodes visit
the positions in a seeded shuffled order, each once in 100 episodes.

Contents:
    GEOMETRIES: mode name in env ids (``rotatehard``) -> ``Geometry``.
    DOMAINS: the dm_control domains with geometric modes (those DMC-GB2 has shift bounds for).
    BENCHMARK_NAMES: mode name -> DMC-GB2's (``rotate_hard``).
    camera: the positions, their rotation matrices and the episode order, as pure functions.
    env.GeometricEnv: the env of the geometric ids (``import dmcgb.geometric.env``; not
        imported here, since ``dmcgb.modes`` imports this package).
"""

from __future__ import annotations

from dmcgb.geometric.camera import POSITIONS, SHIFT_BOUNDS, Geometry, camera_angles

__all__ = ["GEOMETRIES", "BENCHMARK_NAMES", "DOMAINS", "POSITIONS", "Geometry", "camera_angles"]

DOMAINS: tuple[str, ...] = tuple(SHIFT_BOUNDS)
"""walker, cheetah, cartpole, finger, ball_in_cup: the domains DMC-GB2 evaluates."""

BENCHMARK_NAMES: dict[str, str] = {
    "rotateeasy": "rotate_easy",
    "rotatehard": "rotate_hard",
    "shifteasy": "shift_easy",
    "shifthard": "shift_hard",
    "rotateshifteasy": "rotate_shift_easy",
    "rotateshifthard": "rotate_shift_hard",
}
"""Each geometric mode's name in DMC-GB2, by its name in env ids."""

GEOMETRIES: dict[str, Geometry] = {
    name: Geometry(roll="rotate" in name, shift="shift" in name, hard=name.endswith("hard"))
    for name in BENCHMARK_NAMES
}
"""What each geometric mode does to the camera, by its name in env ids."""
