"""Several runs' saliency maps side by side on the same frames (the SGQN paper's Figure 5).

    python -m sgqn.compare_saliency runs/sac-s1 runs/svea-s1 runs/sgqn-s1 --mode videohard

The frames come from one seeded episode of ``--mode`` on the runs' task, driven by the first
run's policy (mean actions). Runs that render at another size (rad and soda render larger and
centre-crop) see the same states: the same seeded episode is replayed with the same actions and
rendered at their size. Each run's maps are its critic's guided-backprop attribution and the
mask binarized at the task's rho, as in ``sgqn.eval --saliency``. Writes one PNG: one row per
run; per frame, what the run saw, its attribution and its mask.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
import tyro

from dmcgb.protocol.envs import eval_env_id, make_env, to_chw
from dmcgb.protocol.episodes import FIGURE, episode_seed

__all__ = ["CompareArgs", "main", "cli", "same_state_frames"]

PROG = "python -m sgqn.compare_saliency"


@dataclass
class CompareArgs:
    """Draw several runs' saliency maps on the same frames."""

    runs: Annotated[tuple[Path, ...], tyro.conf.Positional]
    """Run directories (each holds checkpoint.pt), all trained on the same task."""
    mode: str = "videohard"
    """Test distribution of the frames (train, videoeasy, videohard, coloreasy, colorhard, ...)."""
    steps: tuple[int, ...] = (60,)
    """Agent steps into the episode at which frames are taken."""
    seed: int = 0
    """Seed of the episode."""
    out: Path | None = None
    """The PNG to write; default saliency-comparison-<mode>.png in the current folder."""
    device: str | None = None
    """torch device; default CUDA when present, else CPU."""


def same_state_frames(
    env_id: str,
    sizes: Sequence[int],
    frame_stack: int,
    action_repeat: int,
    seed: int,
    at: Sequence[int],
    policy: Callable[[np.ndarray], np.ndarray],
) -> dict[int, list[np.ndarray]]:
    """Observations at agent steps ``at`` of one seeded episode, rendered at each size.

    The policy drives the episode at ``sizes[0]``; the episode is replayed with the recorded
    actions at every other size, so each size shows the same states.

    Returns:
        Per size, the (3 * frame_stack, size, size) uint8 observations at the steps ``at``.

    Raises:
        ValueError: the episode ends before the last step of ``at``.
    """
    last = max(at)
    actions: list[np.ndarray] = []
    frames: dict[int, list[np.ndarray]] = {}
    for size in dict.fromkeys(sizes):  # each size once, the driver's first
        env = make_env(env_id, seed, frame_stack, action_repeat, size)
        try:
            obs = to_chw(env.reset(seed=seed)[0])
            chosen = []
            for t in range(last + 1):
                if t in at:
                    chosen.append(obs)
                if t == last:
                    break
                if len(actions) <= t:
                    actions.append(policy(obs))
                obs, _, terminated, truncated, _ = env.step(actions[t])
                obs = to_chw(obs)
                if terminated or truncated:
                    raise ValueError(
                        f"the {env_id} episode ended at agent step {t + 1}; pick --steps "
                        f"below {t + 1}"
                    )
        finally:
            env.close()
        frames[size] = chosen
    return frames


def _labels(runs: Sequence[Path], configs: Sequence[Any], steps: Sequence[int]) -> list[str]:
    labels = [f"{c.algo} (seed {c.seed}, step {s})" for c, s in zip(configs, steps, strict=True)]
    if len(set(labels)) < len(labels):  # the same algo twice: name the runs
        labels = [f"{label}\n{run.name}" for label, run in zip(labels, runs, strict=True)]
    return labels


def main(
    runs: Sequence[str | Path],
    mode: str = "videohard",
    steps: Sequence[int] = (60,),
    seed: int = 0,
    out: str | Path | None = None,
    device: str | None = None,
) -> Path:
    """Draw the runs' maps on the same frames; return the PNG's path.

    Raises:
        ValueError: no runs, runs of different tasks or frame stacks, or bad steps.
        FileNotFoundError: a run without a checkpoint.
    """
    from dmcgb.rendering import ensure_gl_backend

    ensure_gl_backend()
    from sgqn.eval import load_agent
    from sgqn.results.figures import saliency_rows, save_comparison_figure

    if not runs:
        raise ValueError("name at least one run directory")
    if not steps or min(steps) < 0:
        raise ValueError(f"--steps must be agent steps >= 0, actual value: {tuple(steps)}")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    runs = [Path(r) for r in runs]
    loaded = [load_agent(run, device) for run in runs]
    agents, configs, trained = zip(*loaded, strict=True)
    first = configs[0]
    for run, cfg in zip(runs, configs, strict=True):
        same = (cfg.env, cfg.frame_stack, cfg.action_repeat)
        if same != (first.env, first.frame_stack, first.action_repeat):
            raise ValueError(
                f"{run} trained on {same}, but {runs[0]} on "
                f"{(first.env, first.frame_stack, first.action_repeat)}: compare runs of one task"
            )
    env_id = eval_env_id(first.env, mode)
    at = sorted(set(steps))
    frames = same_state_frames(
        env_id,
        [cfg.render_size for cfg in configs],
        first.frame_stack,
        first.action_repeat,
        episode_seed(seed, FIGURE, mode),
        at,
        lambda obs: agents[0].act(obs, sample=False),
    )
    panels = {}
    for label, agent, cfg in zip(_labels(runs, configs, trained), agents, configs, strict=True):
        rows = saliency_rows(agent, {mode: frames[cfg.render_size]})
        for row, t in zip(rows, at, strict=True):
            row.label = f"{mode} step {t}"
        panels[label] = rows
    path = Path(out) if out is not None else Path(f"saliency-comparison-{mode}.png")
    return save_comparison_figure(panels, path, title=f"{env_id}: saliency of each agent")


def cli(argv: list[str] | None = None) -> None:
    """``python -m sgqn.compare_saliency``: parse the flags and draw."""
    from dmcgb.errors import DMCGBError

    args = tyro.cli(
        CompareArgs, args=argv, prog=PROG, description=__doc__.split("\n\n")[0]
    )
    try:
        path = main(args.runs, args.mode, args.steps, args.seed, args.out, args.device)
    except (DMCGBError, FileNotFoundError, ValueError) as error:
        print(f"sgqn.compare_saliency: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"saliency comparison: {path}")


if __name__ == "__main__":
    cli()
