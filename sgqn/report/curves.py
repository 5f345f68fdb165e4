"""Learning-curve figures: one panel per (mode, task), one line per algorithm, a ±std band.

The layout follows the SGQN paper's learning-curve figures: a row per test mode (train,
video_easy, video_hard, ...), a column per task. The curves arrive already aggregated over
seeds from each run's periodic evaluations by :func:`learning_curves`. It uses matplotlib's
``Figure`` directly (the Agg canvas, no pyplot state), so it works headless and in threads.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sgqn.files import atomic_path
from sgqn.report.run_folders import Run
from sgqn.report.scores import Cell, score, seed_stats

__all__ = ["Curve", "learning_curves", "save_learning_curves"]

_PANEL_SIZE = (3.2, 2.4)  # inches per panel (width, height)


@dataclass(frozen=True)
class Curve:
    """One algorithm's curve in one panel, aggregated over seeds.

    Attributes:
        frames: x values, environment frames (agent steps * action repeat), increasing.
        mean: mean over seeds at each x.
        std: standard deviation over seeds at each x (0 where one seed).
        seeds: number of seeds at each x.
    """

    frames: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    seeds: np.ndarray


def learning_curves(
    runs: Sequence[Run], cells: Sequence[Cell], ddof: int = 0
) -> dict[str, dict[tuple[str, str], dict[str, Curve]]]:
    """Per metric, per (mode, task), per algorithm: mean ± std over seeds at each evaluation."""
    wanted = {(c.task, c.mode, c.algo): c.metric for c in cells}
    points: dict[tuple[str, str, str], dict[int, list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for run in runs:
        for evaluation in run.curve:
            for result in evaluation.results:
                if (run.task, result.mode, run.algo) in wanted:
                    points[(run.task, result.mode, run.algo)][result.frames].append(score(result))
    curves: dict[str, dict[tuple[str, str], dict[str, Curve]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for (task, mode, algo), by_frames in points.items():
        frames = sorted(by_frames)
        stats = [seed_stats(by_frames[f], ddof) for f in frames]
        std = np.nan_to_num(np.array([s for _, s in stats]))  # one seed: no band
        curves[wanted[(task, mode, algo)]][(mode, task)][algo] = Curve(
            frames=np.array(frames),
            mean=np.array([m for m, _ in stats]),
            std=std,
            seeds=np.array([len(by_frames[f]) for f in frames]),
        )
    return curves


def save_learning_curves(
    panels: Mapping[tuple[str, str], Mapping[str, Curve]],
    modes: Sequence[str],
    tasks: Sequence[str],
    algos: Sequence[str],
    path: str | Path,
    ylabel: str,
    ylim: tuple[float, float] | None = None,
) -> Path:
    """Draw the panels as one PNG (written atomically) and return its path.

    Args:
        panels: per (mode, task), per algorithm, its curve; missing panels are left empty.
        modes: the rows, in order.
        tasks: the columns, in order.
        algos: the legend order (and colour assignment).
        path: where to write the PNG.
        ylabel: the y axis' label, e.g. ``episode return``.
        ylim: fixed y limits (e.g. for rates); None: matplotlib's choice per panel.
    """
    from matplotlib.figure import Figure

    if not modes or not tasks:
        raise ValueError("no curves to draw: expected at least one mode and one task")
    width, height = _PANEL_SIZE
    fig = Figure(figsize=(width * len(tasks), height * len(modes) + 0.6))
    axes = fig.subplots(len(modes), len(tasks), squeeze=False, sharex="col")
    colours = {algo: f"C{i % 10}" for i, algo in enumerate(algos)}
    for r, mode in enumerate(modes):
        for c, task in enumerate(tasks):
            ax = axes[r, c]
            ax.set_title(f"{task} · {mode}", fontsize=9)
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=8)
            for algo, curve in panels.get((mode, task), {}).items():
                colour = colours.get(algo, "k")
                ax.plot(curve.frames, curve.mean, color=colour, label=algo, lw=1.5, marker=".")
                ax.fill_between(
                    curve.frames,
                    curve.mean - curve.std,
                    curve.mean + curve.std,
                    color=colour,
                    alpha=0.2,
                    lw=0,
                )
            if ylim is not None:
                ax.set_ylim(*ylim)
            if c == 0:
                ax.set_ylabel(ylabel, fontsize=9)
            if r == len(modes) - 1:
                ax.set_xlabel("frames", fontsize=9)
    handles = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    ordered = [a for a in algos if a in handles]
    if ordered:
        fig.legend(
            [handles[a] for a in ordered],
            ordered,
            loc="upper center",
            ncol=min(len(ordered), 6),
            fontsize=9,
            frameon=False,
        )
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / fig.get_figheight()))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return path
