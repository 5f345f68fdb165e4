"""Vision-based robot manipulation tasks (Reach, PegInBox) with texture-shift test scenes.

A Fetch arm (model loaded from the installed gymnasium-robotics) on a table, seen by one fixed
camera, in a training scene and five test scenes that differ only in appearance.

Contents:
    RobotEnv: the Gymnasium env (``dmcgb.robot.env``).
    ROBOT_TASKS: env-id task name -> ``RobotEnv`` task argument.
    ROBOT_VARIANTS: the scene variants, train first.
"""

from __future__ import annotations

from dmcgb.robot.env import ACTION_SCALE, EPISODE_STEPS, RobotEnv
from dmcgb.robot.variants import ROBOT_VARIANTS, VARIANTS

__all__ = ["RobotEnv", "ROBOT_TASKS", "ROBOT_VARIANTS", "VARIANTS", "ACTION_SCALE", "EPISODE_STEPS"]

ROBOT_TASKS: dict[str, str] = {"RobotReach": "reach", "RobotPegInBox": "peg_in_box"}
