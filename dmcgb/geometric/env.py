"""GeometricEnv: a DMCGBEnv whose camera is turned by a geometric mode (the entry point of those ids).

Through DMCGBEnv's hooks: at the start of episode k it takes the k-th position of the seeded
order, and before every render it recomputes the stock camera pose from the current state and
turns it by that position, so every frame of the episode (observations and ``render()``, at
any size) shows the same camera position.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from dmcgb.actions import check_int
from dmcgb.env import DMCGBEnv
from dmcgb.geometric import GEOMETRIES
from dmcgb.geometric.camera import (
    POSITIONS,
    camera_angles,
    position_order,
    roll_matrix,
    shift_matrix,
)
from dmcgb.tasks import TASKS

__all__ = ["GeometricEnv"]

_SEED_LIMIT = 2**32  # numpy's RandomState takes seeds in [0, 2**32)


class GeometricEnv(DMCGBEnv):
    """DMC-GB2's geometric modes: one of 100 camera positions per episode.

    Args:
        task: a task of the domains ``dmcgb.geometric.DOMAINS`` (``dmcgb.GEOMETRIC_TASKS``).
        mode: ``rotateeasy``, ``rotatehard``, ``shifteasy``, ``shifthard``, ``rotateshifteasy``
            or ``rotateshifthard``.
        camera_order_seed: seeds the shuffled order of the positions, fixed for the env's life:
            episode k shows position ``order[k mod 100]`` whatever the reset seeds. None (the
            default): every seeded reset seeds the order with its own seed, as DMC-GB2's env,
            seeded once, does.
        **kwargs: DMCGBEnv's (``action_repeat``, ``image_size``, ``render_mode``, ...).

    Example:
        >>> import gymnasium as gym, dmcgb
        >>> env = gym.make("dmcgb/WalkerWalk-rotatehard-v0", action_repeat=4)
        >>> obs, info = env.reset(seed=0)
        >>> info["camera_position"]
        26

    Change logs:
        v0: initial version.
    """

    def __init__(
        self,
        task: str,
        mode: str = "rotatehard",
        camera_order_seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        # Arguments first: the dm_control task is not built for a call that cannot work.
        if mode not in GEOMETRIES:
            raise ValueError(
                f"expected a geometric mode in {list(GEOMETRIES)}, actual value: {mode!r}"
            )
        if camera_order_seed is not None:
            _check_seed("camera_order_seed", camera_order_seed)
        super().__init__(task, mode, **kwargs)
        self.geometry = GEOMETRIES[mode]
        self.camera_order_seed = camera_order_seed
        self.camera_angles = camera_angles(self.geometry, TASKS[task].domain)
        """(pan, tilt, roll) of each position, deg, shape (100, 3); see dmcgb.geometric.camera."""
        self._shifts = [shift_matrix(pan, tilt) for pan, tilt, _ in self.camera_angles]
        self._rolls = [roll_matrix(roll) for _, _, roll in self.camera_angles]
        # Until a seeded reset (or for good, given camera_order_seed): an order of its own.
        self._order = position_order(
            camera_order_seed
            if camera_order_seed is not None
            else int(np.random.SeedSequence().generate_state(1)[0])
        )
        self._position: int | None = None

    # ------------------------------------------------------------------ DMCGBEnv's hooks

    def _start_episode(self, seed: int | None, episode: int) -> None:
        if seed is not None and self.camera_order_seed is None:
            self._order = position_order(seed)
        self._position = int(self._order[episode % POSITIONS])

    def _before_render(self) -> None:
        if self._position is None:
            raise gym.error.ResetNeeded("call reset() first: it picks the camera position")
        physics = self.physics
        # The stock pose from the current state (idempotent: a second render in the same step
        # turns the stock camera again, not the turned one).
        mujoco.mj_camlight(physics.model.ptr, physics.data.ptr)
        xmat = physics.data.cam_xmat[self._camera_id].reshape(3, 3)
        # One product at a time, in DMC-GB2's order (its shift wrapper, then its rotation).
        if self.geometry.shift:
            xmat = xmat @ self._shifts[self._position]
        if self.geometry.roll:
            xmat = xmat @ self._rolls[self._position]
        physics.data.cam_xmat[self._camera_id] = xmat.ravel()

    def _episode_info(self) -> dict[str, Any]:
        return {"camera_position": self._position}


def _check_seed(label: str, seed: Any) -> None:
    check_int(label, seed, minimum=0)
    if seed >= _SEED_LIMIT:
        raise ValueError(
            f"{label} must be below 2**32 (DMC-GB2 shuffles the positions with numpy's "
            f"RandomState), actual value: {seed!r}"
        )
