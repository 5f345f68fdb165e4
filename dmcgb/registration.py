"""The table of dmcgb env ids, derived from the suites' registries and registered with Gymnasium.

Ids read ``dmcgb/<Task>-<mode>-v0``: ``dmcgb/WalkerWalk-videohard-v0`` for DMControl-GB tasks
(``dmcgb.TASKS`` in the modes of ``dmcgb.MODES``) and ``dmcgb/RobotReach-test2-v0`` for the
robot tasks (``dmcgb.robot.TASKS`` in the variants ``train``, ``test1`` ... ``test5``).

Every id takes the env's keyword arguments through ``gymnasium.make`` (``action_repeat``,
``image_size``, ...). Episodes are cut by the envs themselves (their length in agent steps
depends on ``action_repeat``), so no Gymnasium ``TimeLimit`` is registered.

``python -m dmcgb`` prints the README's id and mode tables from these registries.
"""

from __future__ import annotations

import difflib
import re

import gymnasium as gym

from dmcgb import robot
from dmcgb.errors import UnknownTask
from dmcgb.geometric import GEOMETRIES
from dmcgb.modes import MODES
from dmcgb.tasks import TASKS

__all__ = [
    "NAMESPACE",
    "ROBOT_TASKS",
    "ROBOT_VARIANTS",
    "env_id",
    "parse_env_id",
    "all_env_ids",
    "register_envs",
    "make",
    "readme_tables",
    "DISTRACTING_TASKS",
    "DISTRACTING_MODES",
    "GEOMETRIC_TASKS",
    "GEOMETRIC_MODES",
]

NAMESPACE = "dmcgb"
VERSION = 0
ROBOT_TASKS = robot.ROBOT_TASKS
ROBOT_VARIANTS = robot.ROBOT_VARIANTS
DISTRACTING_MODES: tuple[str, ...] = tuple(
    name for name, mode in MODES.items() if mode.benchmark_name == "distracting_cs"
)
"""``distractingcs`` (intensity as an argument) and one mode per evaluated intensity."""
DISTRACTING_TASKS: tuple[str, ...] = tuple(
    task for task, spec in TASKS.items() if MODES[DISTRACTING_MODES[0]].has_domain(spec.domain)
)
"""The tasks with distractingcs ids: those of the Distracting Control Suite's six domains."""
GEOMETRIC_MODES: tuple[str, ...] = tuple(name for name in MODES if name in GEOMETRIES)
"""DMC-GB2's camera shifts: ``rotateeasy`` ... ``rotateshifthard`` (``dmcgb.geometric``)."""
GEOMETRIC_TASKS: tuple[str, ...] = tuple(
    task for task, spec in TASKS.items() if MODES[GEOMETRIC_MODES[0]].has_domain(spec.domain)
)
"""The tasks with geometric ids: those of the five domains DMC-GB2 gives shift bounds for."""

_ID_PATTERN = re.compile(
    rf"^{NAMESPACE}/(?P<task>[A-Za-z0-9]+)-(?P<mode>[a-z0-9.]+)-v(?P<version>\d+)$"
)


def env_id(task: str, mode: str) -> str:
    """The id of a task in a mode: ``env_id("WalkerWalk", "videohard")``."""
    return f"{NAMESPACE}/{task}-{mode}-v{VERSION}"


def _entries() -> list[tuple[str, str, dict]]:
    """(id, entry point, constructor kwargs) of every id, DMControl-GB first."""
    entries = [
        (env_id(task, mode.name), mode.entry_point, {"task": task, "mode": mode.name, **mode.kwargs})
        for task, spec in TASKS.items()
        for mode in MODES.values()
        if mode.has_domain(spec.domain)
    ]
    entries += [
        (env_id(name, variant), "dmcgb.robot.env:RobotEnv", {"task": task, "variant": variant})
        for name, task in ROBOT_TASKS.items()
        for variant in ROBOT_VARIANTS
    ]
    return entries


def all_env_ids() -> list[str]:
    """Every id dmcgb registers."""
    return [id_ for id_, _, _ in _entries()]


def parse_env_id(id_: str) -> tuple[str, str]:
    """Split a dmcgb id into (task, mode).

    Raises:
        UnknownTask: the id is not one dmcgb registers; the message suggests the closest ids.
    """
    match = _ID_PATTERN.match(id_)
    ids = all_env_ids()
    if match is None or id_ not in set(ids):
        close = difflib.get_close_matches(id_, ids, n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownTask(
            f"{id_!r} is not a dmcgb env id{hint}\n"
            f"dmcgb ids read dmcgb/<Task>-<mode>-v{VERSION}, with tasks {sorted(TASKS)} in modes "
            f"{list(MODES)}, and {sorted(ROBOT_TASKS)} in variants {list(ROBOT_VARIANTS)}"
        )
    return match["task"], match["mode"]


def make(id_: str, **kwargs) -> gym.Env:
    """``gymnasium.make`` with a dmcgb error (listing the valid ids) for an unknown id."""
    parse_env_id(id_)
    return gym.make(id_, **kwargs)


def register_envs() -> None:
    """Register every dmcgb id with Gymnasium (idempotent)."""
    for id_, entry_point, kwargs in _entries():
        if id_ not in gym.registry:
            gym.register(id=id_, entry_point=entry_point, kwargs=kwargs)


def readme_tables() -> str:
    """The README's tables of ids and modes (Markdown), written from the registries."""
    # Tasks that have the same modes share a row (some modes exist for some domains only).
    rows: dict[tuple[str, ...], list[str]] = {}
    for name, task in TASKS.items():
        modes = tuple(m.name for m in MODES.values() if m.has_domain(task.domain))
        rows.setdefault(modes, []).append(name)

    def cell(names) -> str:
        return ", ".join(f"`{n}`" for n in names)

    lines = [
        "| tasks | modes / variants |",
        "| --- | --- |",
        *(f"| {cell(rows[modes])} | {cell(modes)} |" for modes in sorted(rows, key=len, reverse=True)),
        f"| {', '.join(f'`{name}`' for name in ROBOT_TASKS)} | "
        f"{', '.join(f'`{v}`' for v in ROBOT_VARIANTS)} |",
        "",
        "| mode | what changes | data |",
        "| --- | --- | --- |",
    ]
    for mode in MODES.values():
        data = f"`python -m dmcgb.data fetch {mode.data}`" if mode.data else "none"
        lines.append(f"| `{mode.name}` | {mode.description} | {data} |")
    return "\n".join(lines) + "\n"
