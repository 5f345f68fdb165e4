"""dmcgb: the DMControl Generalization Benchmark as Gymnasium environments.

Importing the package registers every id (``gymnasium.make("dmcgb/WalkerWalk-videohard-v0")``);
``gymnasium.make("dmcgb:dmcgb/...")`` imports it for you.

Contents:
    TASKS, PAPER_TASKS: the dm_control tasks by CamelCase name.
    MODES: the test distributions (train, coloreasy, colorhard, videoeasy, videohard, ...).
    ROBOT_TASKS, ROBOT_VARIANTS: the robot tasks (registry: ``dmcgb.robot.TASKS``).
    DISTRACTING_TASKS, DISTRACTING_MODES: the tasks and modes of the distractingcs ids
        (``dmcgb.distracting``; env class ``dmcgb.distracting.env.DistractingEnv``).
    GEOMETRIC_TASKS, GEOMETRIC_MODES: the tasks and modes of DMC-GB2's camera shifts
        (``dmcgb.geometric``; env class ``dmcgb.geometric.env.GeometricEnv``).
    make, env_id, parse_env_id, all_env_ids: the id table (``python -m dmcgb`` prints it).
    DMCGBEnv (``dmcgb.env``), RobotEnv (``dmcgb.robot.env``): the env classes; both take
    ``action_repeat`` and render once per agent step.
    evaluate: score any policy by the benchmark's protocol (``dmcgb.protocol``; the command
        line ``python -m dmcgb.evaluate``), writing results ``python -m sgqn.report`` reads.
"""

from dmcgb.modes import MODES
from dmcgb.registration import (
    DISTRACTING_MODES,
    DISTRACTING_TASKS,
    GEOMETRIC_MODES,
    GEOMETRIC_TASKS,
    ROBOT_TASKS,
    ROBOT_VARIANTS,
    all_env_ids,
    env_id,
    make,
    parse_env_id,
    register_envs,
)
from dmcgb.tasks import PAPER_TASKS, TASKS

__version__ = "0.1.0"

__all__ = [
    "MODES",
    "TASKS",
    "PAPER_TASKS",
    "ROBOT_TASKS",
    "ROBOT_VARIANTS",
    "DISTRACTING_TASKS",
    "DISTRACTING_MODES",
    "GEOMETRIC_TASKS",
    "GEOMETRIC_MODES",
    "make",
    "env_id",
    "parse_env_id",
    "all_env_ids",
    "evaluate",
]

register_envs()

from dmcgb.protocol.runner import evaluate  # noqa: E402

