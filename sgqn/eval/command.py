"""Evaluate a trained run: ``python -m sgqn.eval --run DIR --modes train,videohard --episodes 30``.

Loads ``DIR/checkpoint.pt`` (weights only: loading runs no code), rebuilds the agent from the
config saved in it, and runs the benchmark's evaluation protocol (``dmcgb.protocol``: episode
``i`` of a video mode shows the benchmark's ``i``-th video) in each mode, with the policy's
mean action. Prints the table of return mean and std (and success rate on robot tasks) per
mode, and writes every episode to ``DIR/evals/eval_step<step>.json`` (``dmcgb.protocol.results``).
``--saliency`` also writes a saliency figure (observation | attribution | mask | predicted
mask) of train and video_hard frames to ``DIR/saliency/``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dmcgb.protocol.episodes import evaluate_run
from dmcgb.protocol.mode_envs import EvalEnvs
from dmcgb.protocol.modes import check_modes, default_modes
from dmcgb.protocol.results import Evaluation, format_table, write_evaluation
from sgqn.config import ConfigError
from sgqn.files import WriteError
from sgqn.folder_lock import FolderLock
from sgqn.presets import resolve
from sgqn.results.figures import write_saliency_figure
from sgqn.train.checkpoint import (
    CHECKPOINT_NAME,
    CheckpointError,
    config_from_dict,
    load_checkpoint,
)
from sgqn.train.logger import EvalProgress
from sgqn.validation import check_count, check_device, check_seed

__all__ = ["EvalArgs", "main", "cli", "load_agent", "restore_agent"]

PROG = "python -m sgqn.eval"


@dataclass
class EvalArgs:
    """Evaluate a run's checkpoint."""

    run: Path
    """Run directory (holds checkpoint.pt)."""
    modes: str | None = None
    """Comma-separated modes; default every mode of the run's task (DMC tasks: train, videoeasy, videohard, coloreasy, colorhard; robot tasks: train, test1..test5)."""
    episodes: int = 30
    """Episodes per mode (the benchmark's 30)."""
    saliency: bool = False
    """Also write a saliency figure of train and video_hard frames."""
    save_video: bool = False
    """Write the first episode of each mode as an mp4."""
    device: str | None = None
    """torch device; default CUDA when present, else CPU."""
    seed: int | None = None
    """Seed of the evaluation episodes; default the run's seed (the episodes its training evaluated)."""
    workers: int | None = None
    """Worker processes per mode; default the spare cores (1: evaluate in this process)."""


def load_agent(run: str | Path, device: torch.device | str | None = None) -> tuple[Any, Any, int]:
    """Rebuild the agent of a run from its checkpoint.

    Returns:
        (agent, cfg, step): the agent with the trained weights, its Config, the agent step.

    Raises:
        FileNotFoundError: no checkpoint in the run directory.
        CheckpointError: a damaged, unsafe or invalid checkpoint.
    """
    checkpoint = load_checkpoint(Path(run) / CHECKPOINT_NAME)
    # Checked by load_checkpoint; resolve fills what older runs left unset.
    cfg = resolve(config_from_dict(checkpoint["config"]))
    return restore_agent(checkpoint, cfg, device), cfg, int(checkpoint["step"])


def restore_agent(checkpoint: dict[str, Any], cfg: Any, device: torch.device | str | None) -> Any:
    """The agent of a loaded checkpoint, on ``device`` (default: CUDA when present).

    Raises:
        CheckpointError: the weights do not fit the networks its config builds.
    """
    from sgqn.agent.factory import build_agent

    device = check_device(None) if device is None else torch.device(device)
    agent = build_agent(cfg.obs_shape, tuple(checkpoint["action_shape"]), cfg, device)
    try:
        agent.load_state_dict(checkpoint["agent"])
    except (ValueError, RuntimeError, KeyError) as error:
        agent.close()
        raise CheckpointError(
            f"the checkpoint's weights do not fit the agent its config builds ({cfg.algo} on "
            f"{cfg.env}): {str(error).splitlines()[0]}; it was edited or written by another "
            "program"
        ) from None
    return agent


def _parse_modes(modes: str | tuple[str, ...] | None, env_id: str) -> list[str]:
    if modes is None:
        return list(default_modes(env_id))
    listed = [m.strip() for m in modes.split(",")] if isinstance(modes, str) else list(modes)
    listed = [m for m in listed if m]
    if not listed:
        raise ConfigError(
            f"--modes must name at least one mode, e.g. {','.join(default_modes(env_id))}"
        )
    check_modes(env_id, listed, flag="--modes")
    return listed


def main(
    run: str | Path,
    modes: str | tuple[str, ...] | None = None,
    episodes: int = 30,
    saliency: bool = False,
    save_video: bool = False,
    device: str | None = None,
    seed: int | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> Evaluation:
    """Evaluate a run's checkpoint; print the results table and write the results file.

    The process owns the run while it evaluates (``sgqn.folder_lock``): it is refused while
    ``sgqn.train`` or another ``sgqn.eval`` writes the run.

    Returns:
        The evaluation (also written to ``run/evals/eval_step<step>.json``).

    Raises:
        ConfigError: a mode the run's task does not have, or a bad count.
        sgqn.folder_lock.FolderInUse: another process owns the run.
        FileNotFoundError: no checkpoint in ``run``.
        CheckpointError: a damaged or unsafe checkpoint.
        dmcgb.errors.MissingData: a mode's data is missing.
    """
    check_count("--episodes", episodes)
    check_count("--workers", workers)
    check_seed(seed)
    device = None if device is None else check_device(device)
    run = Path(run)
    lock = _own(run)
    try:
        return _evaluate(
            run, modes, episodes, saliency, save_video, device, seed, workers, progress
        )
    finally:
        if lock is not None:
            lock.release()


def _own(run: Path) -> FolderLock | None:
    """Own the run while evaluating it (its evaluation is written into it); None: no run."""
    if not (run / CHECKPOINT_NAME).is_file():
        return None  # load_checkpoint says what is missing
    if not os.access(run, os.W_OK | os.X_OK):
        raise ConfigError(
            f"--run {str(run)!r} is not writable by this user: sgqn.eval writes its results "
            "there (evals/eval_step<N>.json); copy the run somewhere you can write"
        )
    lock = FolderLock(run, what=f"--run {str(run)!r}").acquire()
    if lock.note:
        print(f"sgqn.eval: {lock.note}", file=sys.stderr, flush=True)
    return lock


def _evaluate(
    run: Path,
    modes: str | tuple[str, ...] | None,
    episodes: int,
    saliency: bool,
    save_video: bool,
    device: torch.device | None,
    seed: int | None,
    workers: int | None,
    progress: bool,
) -> Evaluation:
    """:func:`main` once the flags are checked and the run is owned."""
    from dmcgb.rendering import ensure_gl_backend

    checkpoint = load_checkpoint(run / CHECKPOINT_NAME)
    cfg = config_from_dict(checkpoint["config"])
    mode_list = _parse_modes(modes, cfg.env)
    ensure_gl_backend()
    agent, step = restore_agent(checkpoint, cfg, device), int(checkpoint["step"])
    seed = cfg.seed if seed is None else seed
    envs = EvalEnvs.for_task(
        cfg.env, mode_list, seed, episodes, cfg.frame_stack, cfg.action_repeat,
        cfg.render_size, workers,
    )  # fmt: skip
    print(f"{cfg.env} {cfg.algo} seed {cfg.seed}: step {step} ({step * cfg.action_repeat} frames)")
    bar = EvalProgress(f"evaluating {','.join(mode_list)}", episodes * len(mode_list), progress)
    try:
        evaluation = evaluate_run(
            agent.policy,
            envs,
            algo=cfg.algo,
            seed=seed,
            step=step,
            action_repeat=cfg.action_repeat,
            episodes=episodes,
            source="eval",
            video_dir=run / "videos" if save_video else None,
            progress=bar,
        )
        bar.close()
        path = write_evaluation(run, evaluation)
        print(format_table(evaluation))
        print(f"results: {path}", flush=True)
        if saliency:
            figure = run / "saliency" / f"eval_step{step:08d}.png"
            print(f"saliency figure: {write_saliency_figure(agent, envs, seed, figure)}")
    finally:
        bar.close()
        envs.close()
    return evaluation


def cli(argv: list[str] | None = None) -> None:
    """``python -m sgqn.eval``: parse the flags and evaluate."""
    import tyro

    from dmcgb.errors import DMCGBError

    args = tyro.cli(EvalArgs, args=argv, prog=PROG, description=__doc__.split("\n\n")[0])
    try:
        main(**dataclasses.asdict(args))
    except KeyboardInterrupt:
        print("sgqn.eval: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    except (ConfigError, CheckpointError, DMCGBError, FileNotFoundError, WriteError) as error:
        print(f"sgqn.eval: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    cli()
