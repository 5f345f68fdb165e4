"""The robot tasks: where things start, the reward, and when the task counts as solved.

Both tasks follow the "Look Closer" robot suite (Jangir et al., 2022) as used by SGQN:

* **Reach**: move the gripper over a red disc on the table. Reward 1 when the x-y distance d
  between gripper and disc is under 0.05 m, else ``round(-3 d - 0.5 |a|^2, 4)``.
* **PegInBox**: a peg hangs from the gripper on a string; bring it over the opening of a box.
  With d measured between the peg's tip and the centre of the box's opening, the reward is
  ``-|a|^2 - 4 d_xy``, plus ``10 - 20 d_xyz`` when ``d_xy <= 0.05`` m; solved when
  ``d_xyz < 0.08`` m.
"""

from __future__ import annotations

import numpy as np

from dmcgb.robot import scene
from dmcgb.robot.physics import START_XY, RobotPhysics

__all__ = ["Task", "Reach", "PegInBox", "TASKS", "GOAL_LOW", "GOAL_HIGH"]

# Goal disc / box centres are drawn uniformly from this x-y rectangle, m (inside the workspace).
GOAL_LOW = np.array([1.10, 0.50])
GOAL_HIGH = np.array([1.45, 1.00])
# ... at least this far from the gripper's start, so no episode starts solved, m.
_MIN_START_DISTANCE = 0.15

REACH_THRESHOLD = 0.05  # m, x-y distance that counts as reached
REACH_EE_HEIGHT = scene.TABLE_TOP_Z + 0.04  # m: finger tips ~2 cm above the table

PEG_XY_THRESHOLD = 0.05  # m, x-y distance from which the "over the box" bonus is paid
PEG_SUCCESS_THRESHOLD = 0.08  # m, 3-D distance that counts as in the box
# The peg's tip hangs 1.5 cm above the box rim, so the gripper height is fixed at:
_PEG_CLEARANCE = 0.015  # m
PEG_EE_HEIGHT = (
    scene.TABLE_TOP_Z
    + scene.BOX_HEIGHT
    + _PEG_CLEARANCE
    + 2 * (scene.PEG_HALF_LENGTH + scene.PEG_RADIUS)
    + scene.STRING_LENGTH
)


def _sample_goal_xy(rng: np.random.Generator) -> np.ndarray:
    """A goal x-y in the goal rectangle, far enough from the start (rejection sampling)."""
    while True:
        xy = rng.uniform(GOAL_LOW, GOAL_HIGH)
        if np.linalg.norm(xy - START_XY) >= _MIN_START_DISTANCE:
            return xy


class Task:
    """One robot task. Subclasses set `name` and `ee_height` and implement the methods."""

    name: str
    ee_height: float  # m, the gripper's fixed height above the floor

    def initialize_episode(self, physics: RobotPhysics, rng: np.random.Generator) -> None:
        """Place the task's objects for a new episode (the arm is already at its start)."""
        raise NotImplementedError

    def get_reward(self, physics: RobotPhysics, action: np.ndarray) -> float:
        """Reward for the step that applied `action` (in [-1, 1]^2) and led to `physics`."""
        raise NotImplementedError

    def is_solved(self, physics: RobotPhysics) -> bool:
        """Whether the task is solved in the current state."""
        raise NotImplementedError


class Reach(Task):
    """Move the gripper over the red disc."""

    name = "reach"
    ee_height = REACH_EE_HEIGHT

    def initialize_episode(self, physics: RobotPhysics, rng: np.random.Generator) -> None:
        physics.place_mocap_body("goal", _sample_goal_xy(rng))
        physics.forward()

    def distance(self, physics: RobotPhysics) -> float:
        """x-y distance between gripper and goal disc, m."""
        return float(np.linalg.norm(physics.ee_pos()[:2] - physics.site_pos("goal")[:2]))

    def get_reward(self, physics: RobotPhysics, action: np.ndarray) -> float:
        d = self.distance(physics)
        if d < REACH_THRESHOLD:
            return 1.0
        return round(-3.0 * d - 0.5 * float(np.sum(np.square(action))), 4)

    def is_solved(self, physics: RobotPhysics) -> bool:
        return self.distance(physics) < REACH_THRESHOLD


class PegInBox(Task):
    """Bring the peg hanging from the gripper over the box's opening."""

    name = "peg_in_box"
    ee_height = PEG_EE_HEIGHT

    def initialize_episode(self, physics: RobotPhysics, rng: np.random.Generator) -> None:
        physics.place_mocap_body("box", _sample_goal_xy(rng))
        # The peg hangs straight down at rest, its string just taut.
        peg_top_offset = scene.PEG_HALF_LENGTH + scene.PEG_RADIUS
        peg_center = physics.ee_pos() - (0.0, 0.0, scene.STRING_LENGTH + peg_top_offset)
        physics.data.joint("peg").qpos[:] = [*peg_center, 1.0, 0.0, 0.0, 0.0]
        physics.data.joint("peg").qvel[:] = 0.0
        physics.forward()

    def distances(self, physics: RobotPhysics) -> tuple[float, float]:
        """(x-y, 3-D) distances between the peg's tip and the box opening's centre, m."""
        offset = physics.site_pos("peg_tip") - physics.site_pos("box_opening")
        return float(np.linalg.norm(offset[:2])), float(np.linalg.norm(offset))

    def get_reward(self, physics: RobotPhysics, action: np.ndarray) -> float:
        d_xy, d_xyz = self.distances(physics)
        reward = -float(np.sum(np.square(action))) - 4.0 * d_xy
        if d_xy <= PEG_XY_THRESHOLD:
            reward += 10.0 - 20.0 * d_xyz
        return reward

    def is_solved(self, physics: RobotPhysics) -> bool:
        return self.distances(physics)[1] < PEG_SUCCESS_THRESHOLD


TASKS: dict[str, type[Task]] = {task.name: task for task in (Reach, PegInBox)}
