"""Which test distributions (modes) a run's task has, and what data each needs.

A dmcgb task exists in the modes whose ids are registered (``dmcgb/WalkerWalk-videohard-v0``);
a robot task in its variants (train, test1..test5); any other env only in ``train``.
"""

from __future__ import annotations

from collections.abc import Sequence

from dmcgb.errors import UnknownTask
from dmcgb.protocol.envs import eval_env_id

__all__ = ["task_modes", "default_modes", "check_modes", "data_groups", "eval_env_ids"]

# DMControl-GB's train distribution and four test distributions, in the benchmark's order.
_DMC_MODES = ("train", "videoeasy", "videohard", "coloreasy", "colorhard")


def task_modes(train_id: str) -> tuple[str, ...]:
    """The test distributions (or robot variants) the task of ``train_id`` exists in."""
    if not train_id.startswith("dmcgb/"):
        return ("train",)
    from dmcgb.registration import ROBOT_TASKS, ROBOT_VARIANTS, all_env_ids, env_id, parse_env_id

    task, _ = parse_env_id(train_id)
    if task in ROBOT_TASKS:
        return tuple(ROBOT_VARIANTS)
    from dmcgb.modes import MODES

    registered = set(all_env_ids())
    return tuple(mode for mode in MODES if env_id(task, mode) in registered)


def check_modes(train_id: str, modes: Sequence[str], flag: str = "--modes") -> None:
    """Raise UnknownTask naming the task's modes if one of ``modes`` does not exist for it.

    ``flag`` is how the caller's user named the modes (``--eval-modes``, ``modes=``)."""
    valid = task_modes(train_id)
    wrong = [m for m in modes if m not in valid]
    if wrong:
        import difflib

        close = difflib.get_close_matches(wrong[0], valid, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        if "," in wrong[0]:  # a list where a name was expected
            hint = f" (separate modes with spaces: {flag} {' '.join(wrong[0].split(','))})"
        raise UnknownTask(
            f"{flag}: {train_id.split('/')[-1].split('-')[0]} has no mode {wrong[0]!r}{hint}; "
            f"its modes are: {', '.join(valid)}"
        )


def data_groups(env_id: str) -> tuple[str, ...]:
    """The ``dmcgb.data`` groups an env needs (``video_hard``, ``color_easy``; none for train)."""
    if not env_id.startswith("dmcgb/"):
        return ()
    from dmcgb.modes import MODES
    from dmcgb.registration import parse_env_id

    mode = MODES.get(parse_env_id(env_id)[1])
    return (mode.data,) if mode is not None and mode.data else ()


def default_modes(env_id: str) -> tuple[str, ...]:
    """What an evaluation covers by default: the benchmark's five distributions for a DMC task,
    a robot task's variants, ``train`` for other envs."""
    if not env_id.startswith("dmcgb/") or env_id.split("/")[-1].startswith("Robot"):
        return task_modes(env_id)
    return _DMC_MODES


def eval_env_ids(train_id: str, modes: Sequence[str]) -> dict[str, str]:
    """Env id per mode of ``train_id``'s task."""
    return {mode: eval_env_id(train_id, mode) for mode in modes}
