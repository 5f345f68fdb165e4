"""The robot tasks, one class each: the objects they add to the scene, where things start,
the reward, and when the task counts as solved.

Both tasks follow the "Look Closer" robot suite (Jangir et al., 2022) as used by SGQN:

* **Reach**: move the gripper over a red disc on the table. Reward 1 when the x-y distance d
  between gripper and disc is under 0.05 m, else ``round(-3 d - 0.5 |a|^2, 4)``.
* **PegInBox**: a peg hangs from the gripper on a string; bring it over the opening of a box.
  With d measured between the peg's tip and the centre of the box's opening, the reward is
  ``-|a|^2 - 4 d_xy``, plus ``10 - 20 d_xyz`` when ``d_xy <= 0.05`` m; solved when
  ``d_xyz < 0.08`` m.

To add a task, write a ``Task`` subclass here and add one line to ``dmcgb.robot.TASKS``; ids,
the gallery, the README table and the tests follow from that table.
"""

from __future__ import annotations

import mujoco
import numpy as np

from dmcgb.robot import scene
from dmcgb.robot.physics import START_XY, RobotPhysics
from dmcgb.robot.scene import TABLE_CENTER, TABLE_TOP_Z, object_rgba
from dmcgb.robot.variants import Variant

__all__ = ["Task", "Reach", "PegInBox", "GOAL_LOW", "GOAL_HIGH"]

# Goal disc / box centres are drawn uniformly from this x-y rectangle, m (inside the workspace).
GOAL_LOW = np.array([1.10, 0.50])
GOAL_HIGH = np.array([1.45, 1.00])
# ... at least this far from the gripper's start, so no episode starts solved, m.
_MIN_START_DISTANCE = 0.15

# Reach: a flat red disc on the table.
REACH_THRESHOLD = 0.05  # m, x-y distance that counts as reached
REACH_EE_HEIGHT = TABLE_TOP_Z + 0.04  # m: finger tips ~2 cm above the table
GOAL_RADIUS = 0.04  # m
_GOAL_HALF_HEIGHT = 0.001  # m
_GOAL_RGB = (0.9, 0.08, 0.08)

# PegInBox: an open-top box and a capsule peg hanging from the gripper on a string (a tendon
# with a length limit, slack when shorter).
PEG_XY_THRESHOLD = 0.05  # m, x-y distance from which the "over the box" bonus is paid
PEG_SUCCESS_THRESHOLD = 0.08  # m, 3-D distance that counts as in the box
BOX_HALF_WIDTH = 0.065  # m, outer
BOX_HEIGHT = 0.06  # m, from the table top to the rim
_BOX_WALL = 0.006  # m, thickness of walls and floor
PEG_RADIUS = 0.012  # m
PEG_HALF_LENGTH = 0.035  # m, of the capsule's cylinder part
STRING_LENGTH = 0.06  # m, from the gripper site to the peg's top
_PEG_MASS = 0.05  # kg
# Air drag on the peg, so that its swing dies down within ~25 agent steps.
_PEG_LINEAR_DAMPING = 0.15  # N s/m
_PEG_ANGULAR_DAMPING = 1e-4  # N m s/rad: the peg's own spin settles in ~0.4 s
# Collision bits: the peg touches only the box (not the robot, not the table).
_PEG_BIT = 2
_PEG_RGB = (0.95, 0.65, 0.1)
_STRING_RGB = (0.15, 0.15, 0.15)
_BOX_RGB = (0.2, 0.45, 0.85)
# The peg's tip hangs 1.5 cm above the box rim, so the gripper height is fixed at:
_PEG_CLEARANCE = 0.015  # m
PEG_EE_HEIGHT = (
    TABLE_TOP_Z + BOX_HEIGHT + _PEG_CLEARANCE + 2 * (PEG_HALF_LENGTH + PEG_RADIUS) + STRING_LENGTH
)


def _sample_goal_xy(rng: np.random.Generator) -> np.ndarray:
    """A goal x-y in the goal rectangle, far enough from the start (rejection sampling)."""
    while True:
        xy = rng.uniform(GOAL_LOW, GOAL_HIGH)
        if np.linalg.norm(xy - START_XY) >= _MIN_START_DISTANCE:
            return xy


class Task:
    """One robot task. Subclasses set ``ee_height`` and implement the methods."""

    ee_height: float  # m, the gripper's fixed height above the floor

    def add_objects(self, spec: mujoco.MjSpec, variant: Variant) -> None:
        """Add the task's objects to the scene, coloured for ``variant``."""
        raise NotImplementedError

    def adjust_model(self, model: mujoco.MjModel) -> None:
        """Set compiled-model fields the spec cannot express (default: nothing)."""

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

    ee_height = REACH_EE_HEIGHT

    def add_objects(self, spec: mujoco.MjSpec, variant: Variant) -> None:
        # A red disc lying on the table, moved at reset as a mocap body.
        goal = spec.worldbody.add_body(name="goal", mocap=True, pos=[*TABLE_CENTER, TABLE_TOP_Z])
        goal.add_geom(
            name="goal",
            type=mujoco.mjtGeom.mjGEOM_CYLINDER,
            size=[GOAL_RADIUS, _GOAL_HALF_HEIGHT, 0.0],
            pos=[0.0, 0.0, _GOAL_HALF_HEIGHT],
            rgba=object_rgba(_GOAL_RGB, variant.tint),
            contype=0,
            conaffinity=0,
        )
        goal.add_site(name="goal", size=[0.005, 0.0, 0.0], rgba=[0.0, 0.0, 0.0, 0.0])

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

    ee_height = PEG_EE_HEIGHT

    def add_objects(self, spec: mujoco.MjSpec, variant: Variant) -> None:
        # An open box (a mocap body, moved at reset) and a peg hanging from the gripper.
        box = spec.worldbody.add_body(name="box", mocap=True, pos=[*TABLE_CENTER, TABLE_TOP_Z])
        box_rgba = object_rgba(_BOX_RGB, variant.tint)
        half, wall, height = BOX_HALF_WIDTH, _BOX_WALL, BOX_HEIGHT
        box_geoms = {
            "box_floor": ([half, half, wall / 2], [0.0, 0.0, wall / 2]),
            "box_wall_px": ([wall / 2, half, height / 2], [half - wall / 2, 0.0, height / 2]),
            "box_wall_nx": ([wall / 2, half, height / 2], [-half + wall / 2, 0.0, height / 2]),
            "box_wall_py": ([half, wall / 2, height / 2], [0.0, half - wall / 2, height / 2]),
            "box_wall_ny": ([half, wall / 2, height / 2], [0.0, -half + wall / 2, height / 2]),
        }
        for name, (size, pos) in box_geoms.items():
            box.add_geom(
                name=name,
                type=mujoco.mjtGeom.mjGEOM_BOX,
                size=size,
                pos=pos,
                rgba=box_rgba,
                contype=1 | _PEG_BIT,
                conaffinity=1 | _PEG_BIT,
            )
        box.add_site(name="box_opening", pos=[0.0, 0.0, height], size=[0.005, 0.0, 0.0])

        peg_top = PEG_HALF_LENGTH + PEG_RADIUS
        peg = spec.worldbody.add_body(name="peg", pos=[*TABLE_CENTER, 1.0])
        peg.add_freejoint(name="peg")
        peg.add_geom(
            name="peg",
            type=mujoco.mjtGeom.mjGEOM_CAPSULE,
            size=[PEG_RADIUS, PEG_HALF_LENGTH, 0.0],
            mass=_PEG_MASS,
            rgba=object_rgba(_PEG_RGB, variant.tint),
            contype=_PEG_BIT,
            conaffinity=_PEG_BIT,
        )
        peg.add_site(name="peg_top", pos=[0.0, 0.0, peg_top], size=[0.003, 0.0, 0.0])
        peg.add_site(name="peg_tip", pos=[0.0, 0.0, -peg_top], size=[0.003, 0.0, 0.0])
        string = spec.add_tendon(
            name="string",
            limited=mujoco.mjtLimited.mjLIMITED_TRUE,
            range=[0.0, STRING_LENGTH],
            width=0.002,
            rgba=object_rgba(_STRING_RGB, variant.tint),
        )
        string.wrap_site(scene.EE_SITE)
        string.wrap_site("peg_top")
        for site in ("peg_top", "peg_tip", "box_opening"):
            spec.site(site).rgba = [0.0, 0.0, 0.0, 0.0]

    def adjust_model(self, model: mujoco.MjModel) -> None:
        # A free joint takes one damping value for its 6 dofs; translation and rotation need
        # different ones, so they are set per dof on the compiled model.
        dof = model.joint("peg").dofadr[0]
        model.dof_damping[dof : dof + 3] = _PEG_LINEAR_DAMPING
        model.dof_damping[dof + 3 : dof + 6] = _PEG_ANGULAR_DAMPING

    def initialize_episode(self, physics: RobotPhysics, rng: np.random.Generator) -> None:
        physics.place_mocap_body("box", _sample_goal_xy(rng))
        # The peg hangs straight down at rest, its string just taut.
        peg_top_offset = PEG_HALF_LENGTH + PEG_RADIUS
        peg_center = physics.ee_pos() - (0.0, 0.0, STRING_LENGTH + peg_top_offset)
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
