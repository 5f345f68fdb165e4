"""The DMControl tasks dmcgb provides, and the camera each domain is rendered from.

The table is the ``dm_control.suite.BENCHMARKING`` set, written out here so that importing
dmcgb (which registers the envs) does not import dm_control: dm_control picks its OpenGL
backend on import, and dmcgb chooses that backend first (see ``dmcgb.rendering``).
A test checks that the table matches dm_control's.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Task", "TASKS", "PAPER_TASKS", "camera_id", "task_name"]


class Task(NamedTuple):
    """A dm_control (domain, task) pair and its CamelCase name in env ids."""

    domain: str
    task: str

    @property
    def name(self) -> str:
        return task_name(self.domain, self.task)


_BENCHMARKING: tuple[tuple[str, str], ...] = (
    ("acrobot", "swingup"),
    ("acrobot", "swingup_sparse"),
    ("ball_in_cup", "catch"),
    ("cartpole", "balance"),
    ("cartpole", "balance_sparse"),
    ("cartpole", "swingup"),
    ("cartpole", "swingup_sparse"),
    ("cheetah", "run"),
    ("finger", "spin"),
    ("finger", "turn_easy"),
    ("finger", "turn_hard"),
    ("fish", "upright"),
    ("fish", "swim"),
    ("hopper", "stand"),
    ("hopper", "hop"),
    ("humanoid", "stand"),
    ("humanoid", "walk"),
    ("humanoid", "run"),
    ("manipulator", "bring_ball"),
    ("pendulum", "swingup"),
    ("point_mass", "easy"),
    ("reacher", "easy"),
    ("reacher", "hard"),
    ("swimmer", "swimmer6"),
    ("swimmer", "swimmer15"),
    ("walker", "stand"),
    ("walker", "walk"),
    ("walker", "run"),
)

# The benchmark renders camera 0, except for quadruped (camera 2), as in DMControl-GB.
_CAMERA_ID = {"quadruped": 2}
_DEFAULT_CAMERA_ID = 0


def task_name(domain: str, task: str) -> str:
    """CamelCase name used in env ids: ('ball_in_cup', 'catch') -> 'BallInCupCatch'."""
    return "".join(part.capitalize() for part in f"{domain}_{task}".split("_"))


def camera_id(domain: str) -> int:
    """The camera the benchmark renders observations from, for a dm_control domain."""
    return _CAMERA_ID.get(domain, _DEFAULT_CAMERA_ID)


TASKS: dict[str, Task] = {task_name(d, t): Task(d, t) for d, t in _BENCHMARKING}
"""Every dm_control benchmarking task, by CamelCase name."""

PAPER_TASKS: tuple[str, ...] = (
    "WalkerWalk",
    "WalkerStand",
    "BallInCupCatch",
    "CartpoleSwingup",
    "FingerSpin",
)
"""The five tasks of the SGQN paper's DMControl-GB experiments."""
