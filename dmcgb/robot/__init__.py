"""Vision-based robot manipulation tasks (Reach, PegInBox) with texture-shift test scenes.

A Fetch arm (model loaded from the installed gymnasium-robotics) on a table, seen by one fixed
camera, in a training scene and five test scenes that differ only in appearance.

This module is the robot suite's registry and imports nothing heavy (``import dmcgb`` reads it
to register the ids); the env itself is ``dmcgb.robot.env.RobotEnv``.

Contents:
    TASKS: the registry, task name (``RobotEnv``'s ``task`` argument) -> ``"module:Class"``
        of its ``dmcgb.robot.tasks.Task``. Adding a task is one line here.
    ROBOT_TASKS: env-id task name (``RobotReach``) -> task name, derived from ``TASKS``.
    ROBOT_VARIANTS, VARIANTS: the scene variants, train first.
    EPISODE_LENGTH: control steps per episode.
    task_class: the Task class of a task name.
    RobotEnv: the env (imported on first access).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from dmcgb.errors import UnknownTask
from dmcgb.robot.variants import ROBOT_VARIANTS, VARIANTS

if TYPE_CHECKING:
    from dmcgb.robot.tasks import Task

__all__ = [
    "TASKS",
    "ROBOT_TASKS",
    "ROBOT_VARIANTS",
    "VARIANTS",
    "EPISODE_LENGTH",
    "id_task_name",
    "task_class",
    "RobotEnv",
]

TASKS: dict[str, str] = {
    "reach": "dmcgb.robot.tasks:Reach",
    "peg_in_box": "dmcgb.robot.tasks:PegInBox",
}

EPISODE_LENGTH = 50  # control steps (40 ms each); the episode is truncated there


def id_task_name(task: str) -> str:
    """The task's name in env ids: ``"peg_in_box"`` -> ``"RobotPegInBox"``."""
    return "Robot" + "".join(part.capitalize() for part in task.split("_"))


ROBOT_TASKS: dict[str, str] = {id_task_name(task): task for task in TASKS}


def task_class(task: str) -> type[Task]:
    """The ``Task`` subclass registered for ``task``.

    Raises:
        UnknownTask: ``task`` is not in ``TASKS``.
    """
    if task not in TASKS:
        raise UnknownTask(f"unknown robot task {task!r}; expected one of {', '.join(TASKS)}")
    module, name = TASKS[task].split(":")
    return getattr(importlib.import_module(module), name)


def __getattr__(name: str) -> Any:
    # The env imports mujoco, which picks its OpenGL backend on import: load it on demand.
    if name == "RobotEnv":
        from dmcgb.robot.env import RobotEnv

        return RobotEnv
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
