"""The table of dmcgb env ids, registered with Gymnasium.

Ids read ``dmcgb/<Task>-<mode>-v0``: ``dmcgb/WalkerWalk-videohard-v0`` for DMControl-GB tasks
(modes in ``dmcgb.MODES``), ``dmcgb/WalkerWalk-distractingcs0.1-v0`` for the distracting_cs
mode at one of its eight intensities (``dmcgb/WalkerWalk-distractingcs-v0`` takes
``intensity=`` as a ``gymnasium.make`` argument; tasks of ``dmcgb.distracting.DOMAINS``
only), and ``dmcgb/RobotReach-test2-v0`` for the robot tasks (variants ``train``, ``test1``
... ``test5``).
"""

from __future__ import annotations

import difflib
import re

import gymnasium as gym

from dmcgb.distracting import DOMAINS as DISTRACTING_DOMAINS
from dmcgb.distracting import INTENSITIES, mode_name
from dmcgb.errors import UnknownTask
from dmcgb.modes import EPISODE_LENGTH, MODES
from dmcgb.tasks import TASKS

__all__ = [
    "NAMESPACE",
    "ROBOT_TASKS",
    "ROBOT_VARIANTS",
    "ROBOT_EPISODE_LENGTH",
    "DISTRACTING_TASKS",
    "DISTRACTING_MODES",
    "env_id",
    "parse_env_id",
    "all_env_ids",
    "register_envs",
    "make",
]

NAMESPACE = "dmcgb"
VERSION = 0
ROBOT_TASKS: dict[str, str] = {"RobotReach": "reach", "RobotPegInBox": "peg_in_box"}
ROBOT_VARIANTS: tuple[str, ...] = ("train", "test1", "test2", "test3", "test4", "test5")
ROBOT_EPISODE_LENGTH = 50  # agent steps

DISTRACTING_TASKS: tuple[str, ...] = tuple(
    task for task, spec in TASKS.items() if spec.domain in DISTRACTING_DOMAINS
)
"""The tasks with distractingcs ids: those of the Distracting Control Suite's six domains."""
DISTRACTING_MODES: tuple[str, ...] = (mode_name(), *(mode_name(i) for i in INTENSITIES))
"""``distractingcs`` (intensity as an argument) and one mode per evaluated intensity."""

_ID_PATTERN = re.compile(
    rf"^{NAMESPACE}/(?P<task>[A-Za-z0-9]+)-(?P<mode>[a-z0-9.]+)-v(?P<version>\d+)$"
)


def env_id(task: str, mode: str) -> str:
    """The id of a task in a mode: ``env_id("WalkerWalk", "videohard")``."""
    return f"{NAMESPACE}/{task}-{mode}-v{VERSION}"


def all_env_ids() -> list[str]:
    """Every id dmcgb registers."""
    ids = [env_id(task, mode) for task in TASKS for mode in MODES]
    ids += [env_id(task, mode) for task in DISTRACTING_TASKS for mode in DISTRACTING_MODES]
    ids += [env_id(task, variant) for task in ROBOT_TASKS for variant in ROBOT_VARIANTS]
    return ids


def parse_env_id(id_: str) -> tuple[str, str]:
    """Split a dmcgb id into (task, mode).

    Raises:
        UnknownTask: the id is not one dmcgb registers; the message suggests the closest ids.
    """
    match = _ID_PATTERN.match(id_)
    if match is None or id_ not in set(all_env_ids()):
        close = difflib.get_close_matches(id_, all_env_ids(), n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownTask(
            f"{id_!r} is not a dmcgb env id{hint}\n"
            f"dmcgb ids read dmcgb/<Task>-<mode>-v{VERSION}, with tasks {sorted(TASKS)} in modes "
            f"{list(MODES)}, {sorted(DISTRACTING_TASKS)} also in modes {list(DISTRACTING_MODES)}, "
            f"and {sorted(ROBOT_TASKS)} in variants {list(ROBOT_VARIANTS)}"
        )
    return match["task"], match["mode"]


def make(id_: str, **kwargs) -> gym.Env:
    """``gymnasium.make`` with a dmcgb error (listing the valid ids) for an unknown id."""
    parse_env_id(id_)
    return gym.make(id_, **kwargs)


def register_envs() -> None:
    """Register every dmcgb id with Gymnasium (idempotent)."""
    for task in TASKS:
        for mode in MODES:
            _register(
                env_id(task, mode),
                "dmcgb.env:DMCGBEnv",
                {"task": task, "mode": mode},
                EPISODE_LENGTH,
            )
    for task in DISTRACTING_TASKS:
        for mode in DISTRACTING_MODES:
            _register(
                env_id(task, mode), "dmcgb.env:DMCGBEnv", {"task": task, "mode": mode}, EPISODE_LENGTH
            )
    for task, robot_task in ROBOT_TASKS.items():
        for variant in ROBOT_VARIANTS:
            _register(
                env_id(task, variant),
                "dmcgb.robot.env:RobotEnv",
                {"task": robot_task, "variant": variant},
                ROBOT_EPISODE_LENGTH,
            )


def _register(id_: str, entry_point: str, kwargs: dict, max_episode_steps: int) -> None:
    if id_ in gym.registry:
        return
    gym.register(
        id=id_,
        entry_point=entry_point,
        kwargs=kwargs,
        max_episode_steps=max_episode_steps,
    )
