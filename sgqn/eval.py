"""Evaluate a trained run: ``python -m sgqn.eval --run DIR --modes train,videohard --episodes 30``.

Loads ``DIR/checkpoint.pt``, rebuilds the agent from the config saved in it, runs
deterministic episodes (the policy's mean action) in each mode, prints the table of return
mean and std per mode and writes it to ``DIR/eval_results.csv`` / ``.json``. ``--saliency``
also writes a saliency figure (observation | attribution | mask | predicted mask) of train
and video_hard frames to ``DIR/saliency/``.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sgqn.checkpoint import CHECKPOINT_NAME, config_from_dict, load_checkpoint
from sgqn.envs import eval_env_id
from sgqn.evaluation import EvalEnvs, default_workers, evaluate
from sgqn.train import (
    ConfigError,
    _result_rows,
    results_table,
    write_results,
    write_saliency_figure,
)

__all__ = ["EvalArgs", "main", "cli", "load_agent"]

ALL_MODES = "train,videoeasy,videohard,coloreasy,colorhard"


@dataclass
class EvalArgs:
    """Evaluate a run's checkpoint."""

    run: Path
    """Run directory (holds checkpoint.pt)."""
    modes: str = ALL_MODES
    """Comma-separated modes (robot tasks: train,test1,...,test5)."""
    episodes: int = 30
    """Episodes per mode."""
    saliency: bool = False
    """Also write a saliency figure of train and video_hard frames."""
    save_video: bool = False
    """Write the first episode of each mode as an mp4."""
    device: str | None = None
    """torch device; default CUDA when present, else CPU."""
    seed: int | None = None
    """Seed of the evaluation episodes; default the run's seed."""
    workers: int | None = None
    """Worker processes per mode; default the spare cores (1: evaluate in this process)."""


def load_agent(run: str | Path, device: torch.device | str | None = None) -> tuple[Any, Any, int]:
    """Rebuild the agent of a run from its checkpoint.

    Returns:
        (agent, cfg, step): the agent with the trained weights, its Config, the agent step.

    Raises:
        FileNotFoundError: no checkpoint in the run directory.
    """
    from sgqn.agent import make_agent

    run = Path(run)
    checkpoint = load_checkpoint(run / CHECKPOINT_NAME)
    cfg = config_from_dict(checkpoint["config"])
    if device is None:
        device = cfg.device or ("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    agent = make_agent(cfg, tuple(checkpoint["action_shape"]), device, training=False)
    agent.load_state_dict(checkpoint["agent"])
    return agent, cfg, int(checkpoint["step"])


def main(
    run: str | Path,
    modes: str | tuple[str, ...] = ALL_MODES,
    episodes: int = 30,
    saliency: bool = False,
    save_video: bool = False,
    device: str | None = None,
    seed: int | None = None,
    workers: int | None = None,
) -> list[dict[str, Any]]:
    """Evaluate a run's checkpoint; print and write the results table.

    Returns:
        One row per mode: env, mode, step, frames, return_mean, return_std, episodes.

    Raises:
        ConfigError: no modes or a non-positive episode count.
        FileNotFoundError: no checkpoint in ``run``.
        dmcgb.errors.UnknownTask / MissingData: an unknown mode, or its data is missing.
    """
    from dmcgb.rendering import ensure_gl_backend

    ensure_gl_backend()
    mode_list = [m.strip() for m in modes.split(",")] if isinstance(modes, str) else list(modes)
    mode_list = [m for m in mode_list if m]
    if not mode_list:
        raise ConfigError(f"--modes must name at least one mode, e.g. {ALL_MODES}")
    if episodes < 1:
        raise ConfigError(f"--episodes must be >= 1, actual value: {episodes}")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be >= 1, actual value: {workers}")
    run = Path(run)
    agent, cfg, step = load_agent(run, device)
    seed = cfg.seed if seed is None else seed
    envs = EvalEnvs(
        {mode: eval_env_id(cfg.env, mode) for mode in mode_list},
        seed,
        cfg.frame_stack,
        cfg.action_repeat,
        cfg.render_size,
        workers=min(workers or default_workers(len(mode_list)), episodes),
    )
    try:
        video_dir = run / "videos" if save_video else None
        returns = evaluate(agent, envs, episodes, seed, video_dir, f"eval_step{step:08d}_")
        rows = _result_rows(dataclasses.replace(cfg, seed=seed), step, returns)
        write_results(run, rows, name="eval_results")
        print(
            f"{cfg.env} {cfg.algo} seed {cfg.seed}: step {step} ({step * cfg.action_repeat} frames)"
        )
        print(results_table(rows), flush=True)
        if saliency:
            path = write_saliency_figure(
                agent, envs, seed, run / "saliency" / f"eval_step{step:08d}.png"
            )
            print(f"saliency figure: {path}")
    finally:
        envs.close()
    return rows


def cli(argv: list[str] | None = None) -> None:
    """``python -m sgqn.eval``: parse the flags and evaluate."""
    import tyro

    from dmcgb.errors import DMCGBError

    args = tyro.cli(EvalArgs, args=argv, description=__doc__.split("\n\n")[0])
    try:
        main(**dataclasses.asdict(args))
    except (ConfigError, DMCGBError, FileNotFoundError) as error:
        print(f"sgqn.eval: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    cli()
