"""Score any agent by the benchmark's protocol: :func:`evaluate` (``dmcgb.evaluate``).

The same code evaluates sgqn's agents (``python -m sgqn.eval``, and during training): the eval
envs of ``dmcgb.protocol.mode_envs``, the episodes of ``dmcgb.protocol.episodes`` (episode k of
a video mode shows the benchmark's k-th video, per-episode seeds, the benchmark's episode
lengths and truncation) and the results files of ``dmcgb.protocol.results``, which
``python -m sgqn.report`` reads. No torch is needed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dmcgb.atomic import write_text_atomic
from dmcgb.errors import DMCGBError
from dmcgb.protocol.envs import benchmark_protocol
from dmcgb.protocol.episodes import PolicyError, RowError, evaluate_run
from dmcgb.protocol.mode_envs import EvalEnvs
from dmcgb.protocol.modes import check_modes, default_modes
from dmcgb.protocol.results import FINAL_NAME, RECORD_NAME, write_evaluation
from dmcgb.registration import env_id, parse_env_id

__all__ = ["evaluate", "EvaluationError", "UNFINISHED_NAME", "train_env_id"]

UNFINISHED_NAME = "unfinished_evaluation.json"  # the episodes a failed evaluation finished
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")


class EvaluationError(DMCGBError, ValueError):
    """An argument of :func:`evaluate` that cannot work; the message names it and the fix."""


def train_env_id(task: str) -> str:
    """``dmcgb/<Task>-train-v0`` for a task name (``WalkerWalk``) or any of the task's ids.

    Raises:
        dmcgb.errors.UnknownTask: no such task (the message lists the close ones).
    """
    if task.startswith("dmcgb/"):
        name, _ = parse_env_id(task)
    else:
        name, _ = parse_env_id(f"dmcgb/{task}-train-v0")
    return env_id(name, "train")


def _check(episodes: int, seeds: Sequence[int], name: str, frame_stack, action_repeat) -> None:
    checks = [
        (isinstance(episodes, int) and episodes >= 1, f"episodes must be >= 1, got {episodes!r}"),
        (len(seeds) >= 1, "seeds must name at least one seed, e.g. seeds=(1,)"),
        (
            all(isinstance(s, int) and s >= 0 for s in seeds),
            f"seeds must be integers >= 0, got {list(seeds)!r}",
        ),
        (len(set(seeds)) == len(seeds), f"seeds must differ, got {list(seeds)!r}"),
        (
            bool(_NAME.fullmatch(name)),
            f"name must be letters, digits and _ . + - (it names folders), got {name!r}",
        ),
        (frame_stack >= 1, f"frame_stack must be >= 1, got {frame_stack}"),
        (action_repeat >= 1, f"action_repeat must be >= 1, got {action_repeat}"),
    ]
    for ok, message in checks:
        if not ok:
            raise EvaluationError(message)


def _one_at_a_time(policy: Callable[[np.ndarray], Any], action_shape: tuple[int, ...]):
    """A batched ``act`` that asks ``policy`` for one observation's action at a time."""

    def act(batch: np.ndarray) -> np.ndarray:
        actions = []
        for row, obs in enumerate(batch):
            try:
                action = policy(obs)
                array = np.asarray(action, dtype=np.float32)
            except Exception as error:  # the user's policy: report whatever it raised
                raise RowError(row, error) from error
            if array.shape != action_shape:
                why = f"returned {action!r:.200} of shape {array.shape}, expected {action_shape}"
                raise RowError(row, ValueError(why))
            actions.append(array)
        return np.stack(actions)

    return act


def evaluate(
    policy: Callable[..., Any],
    task: str,
    modes: Sequence[str] | str | None = None,
    episodes: int = 30,
    seeds: Sequence[int] | int = (1,),
    out: str | Path = "evaluations",
    name: str = "agent",
    *,
    factory: bool = False,
    frame_stack: int | None = None,
    action_repeat: int | None = None,
    image_size: int = 84,
    step: int = 0,
    workers: int = 1,
    video: bool = False,
    progress: bool = False,
) -> list[Path]:
    """Score a policy by the benchmark's protocol and write one run folder per seed.

    Episode i of a mode starts from its own seed and is the benchmark's i-th evaluation episode
    (video modes: video (i + 1) mod n; geometric modes: the i-th camera position of the seed's
    order), as ``python -m sgqn.eval`` runs it. Each seed's folder
    ``<out>/<name>-<Task>-s<seed>/`` holds ``results.json`` (every episode's return, success,
    video and colour; ``dmcgb.protocol.results``), ``evals/eval_step<step>.json`` (the same)
    and ``config.json`` (what is known of the agent), which ``python -m sgqn.report`` reads.

    Args:
        policy: ``policy(obs) -> action``: obs is the (frame_stack, H, W, 3) uint8 stack the
            agents see (frames oldest first), the action an array of the task's action shape
            in [-1, 1] (out-of-range values are clipped by the env). With ``factory``, a
            callable ``policy(seed) -> that``, called once per seed.
        task: a task name (``WalkerWalk``, ``RobotReach``) or one of its ids.
        modes: the modes to evaluate (a list, or a comma-separated string); default every
            mode of the benchmark for the task (``train`` and the four DMControl-GB test
            distributions, or a robot task's variants).
        episodes: episodes per mode.
        seeds: the run seeds (each a set of episode seeds; one folder each).
        out: where the run folders go.
        name: the agent's name in the results and the report (the ``algo`` column).
        factory: ``policy`` is a factory called with each seed.
        frame_stack, action_repeat: default the benchmark's for the task (3 and 8 for
            cartpole, 2 for finger, 4 otherwise; robot tasks 1 and 1).
        image_size: height and width of the frames.
        step: the agent's training steps, if known (recorded; frames = step * action_repeat).
        workers: processes per mode (1: in this process).
        video: write the first episode of each mode as an mp4 (imageio with ffmpeg, a dependency).
        progress: print a line per seed.

    Returns:
        The run folders, one per seed.

    Raises:
        EvaluationError: a bad argument, or a folder that holds an evaluation already.
        dmcgb.errors.UnknownTask: an unknown task or mode (the message lists the valid ones).
        dmcgb.errors.MissingData: a mode's data (videos, colours) is not available.
        PolicyError: the policy raised or returned a bad action; the message names the mode,
            the episode and the value, and the episodes finished before it are kept in the
            seed's folder (``unfinished_evaluation.json``).
    """
    train_id = train_env_id(task)
    task_name = train_id.split("/")[-1].split("-")[0]
    seeds = [seeds] if isinstance(seeds, int) else list(seeds)
    default_stack, default_repeat = benchmark_protocol(train_id)
    frame_stack = default_stack if frame_stack is None else frame_stack
    action_repeat = default_repeat if action_repeat is None else action_repeat
    _check(episodes, seeds, name, frame_stack, action_repeat)
    if modes is None:
        modes = default_modes(train_id)
    elif isinstance(modes, str):
        modes = [m.strip() for m in modes.split(",") if m.strip()]
    modes = list(modes)
    if not modes:
        raise EvaluationError(f"modes must name at least one mode of {task_name}")
    check_modes(train_id, modes, flag="modes")
    folders = [Path(out) / f"{name}-{task_name}-s{seed}" for seed in seeds]
    for folder in folders:
        if (folder / FINAL_NAME).exists():
            raise EvaluationError(
                f"{folder} holds an evaluation already; pass another out= or name=, or delete it"
            )
    for seed, folder in zip(seeds, folders, strict=True):
        act_policy = policy(seed) if factory else policy
        envs = EvalEnvs.for_task(
            train_id, modes, seed, episodes, frame_stack, action_repeat, image_size, workers
        )
        try:
            first = envs.envs[modes[0]]
            space = getattr(first, "single_action_space", first.action_space)
            act = _one_at_a_time(act_policy, tuple(space.shape))
            folder.mkdir(parents=True, exist_ok=True)
            _write_record(folder, train_id, name, seed, modes, episodes, frame_stack,
                          action_repeat, image_size, step, policy)  # fmt: skip
            try:
                evaluation = evaluate_run(
                    act, envs, algo=name, seed=seed, step=step, action_repeat=action_repeat,
                    episodes=episodes, source="eval",
                    video_dir=folder / "videos" if video else None,
                )  # fmt: skip
            except PolicyError as error:
                kept = _write_unfinished(folder, error)
                raise PolicyError(f"{name}, seed {seed}: {error}; {kept}", error.finished) from None
            write_evaluation(folder, evaluation, final=True)
        finally:
            envs.close()
        if progress:
            print(f"dmcgb.evaluate: {name} on {task_name}, seed {seed}: {folder}", flush=True)
    return folders


def _write_record(folder, train_id, name, seed, modes, episodes, stack, repeat, size, step, policy):
    """``config.json``: what the report compares between the seeds of one agent."""
    config = {
        "env": train_id,
        "algo": name,
        "seed": seed,
        "frame_stack": stack,
        "action_repeat": repeat,
        "image_size": size,
        "eval_episodes": episodes,
        "eval_modes": list(modes),
    }
    record = {
        "config": config,
        "total_steps": step or None,
        "evaluated_by": "dmcgb.evaluate",
        "policy": getattr(policy, "__qualname__", type(policy).__qualname__),
    }
    write_text_atomic(folder / RECORD_NAME, json.dumps(record, indent=2) + "\n")


def _write_unfinished(folder: Path, error: PolicyError) -> str:
    """Keep the episodes a failed evaluation finished; say where."""
    data = {
        mode: {
            "episodes": e.indices,
            "returns": e.returns,
            "successes": e.successes,
            "videos": e.videos,
            "colors": e.colors,
        }
        for mode, e in error.finished.items()
    }
    count = sum(len(e.returns) for e in error.finished.values())
    path = folder / UNFINISHED_NAME
    write_text_atomic(path, json.dumps({"error": str(error), "finished": data}, indent=1) + "\n")
    return f"the {count} episodes finished before are kept in {path}"
