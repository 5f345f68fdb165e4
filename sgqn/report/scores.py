"""Per-seed scores into table cells (mean ± std over seeds) and rliable aggregates.

A seed's score is its mean return over the evaluation episodes (DMControl-GB tasks) or its
success rate (robot tasks, whose episodes record ``is_success``). A :class:`Cell` holds one
score per seed of one (task, mode, algorithm); its std over seeds uses ``ddof`` 0 (population,
numpy's default) unless asked otherwise. :func:`aggregate_scores` gives rliable's interquartile
mean and mean across tasks and seeds with stratified-bootstrap 95% confidence intervals.
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dmcgb.protocol.results import ModeResult
from dmcgb.registration import GEOMETRIC_MODES
from sgqn.report.run_folders import Run, majority

__all__ = [
    "Cell",
    "Aggregate",
    "make_cells",
    "aggregate_scores",
    "seed_stats",
    "score",
    "sort_names",
    "ALGO_ORDER",
    "ABLATIONS",
    "MODE_ORDER",
    "TASK_ORDER",
    "DMC_MAX_RETURN",
]

DMC_MAX_RETURN = 1000.0  # a DMC episode: 1000 control steps, reward in [0, 1]
ALGO_ORDER = (
    "sac",
    "drq",
    "rad",
    "soda",
    "svea",
    "svea_soda",
    "sac_consistency",
    "sac_ssl",
    "sgqn",
)
ABLATIONS = ("sac", "sac_consistency", "sac_ssl", "sgqn")  # the paper's Table 2
MODE_ORDER = (
    "train",
    "coloreasy",
    "colorhard",
    "videoeasy",
    "videohard",
    *GEOMETRIC_MODES,  # DMC-GB2's camera shifts
)
TASK_ORDER = (  # the paper's row order
    "WalkerWalk",
    "WalkerStand",
    "BallInCupCatch",
    "CartpoleSwingup",
    "FingerSpin",
    "RobotReach",
    "RobotPegInBox",
)


def seed_stats(values: Sequence[float], ddof: int) -> tuple[float, float]:
    """Mean and std over seeds; the std is NaN where there are too few seeds for ``ddof``."""
    array = np.asarray(values, dtype=np.float64)
    std = float(np.std(array, ddof=ddof)) if len(array) > ddof else math.nan
    return float(np.mean(array)), std


def score(result: ModeResult) -> float:
    """A seed's score: its success rate where episodes record success, else its mean return."""
    rate = result.success_rate
    return rate if rate is not None else result.return_mean


@dataclass(frozen=True)
class Cell:
    """One (task, mode, algorithm) of the table: one score per seed.

    Attributes:
        metric: ``return`` or ``success`` (a rate in [0, 1]).
        seeds: the run seeds, ascending.
        scores: each seed's score, in seed order.
        returns: each seed's mean return (the score of DMC tasks; also kept for robot tasks).
        episodes: each seed's number of evaluation episodes.
        runs: each seed's run directory.
    """

    task: str
    mode: str
    algo: str
    metric: str
    step: int
    frames: int
    seeds: tuple[int, ...]
    scores: tuple[float, ...]
    returns: tuple[float, ...]
    episodes: tuple[int, ...]
    runs: tuple[Path, ...] = field(default=(), compare=False)

    def stats(self, ddof: int = 0) -> tuple[float, float]:
        """Mean and std over seeds of the scores."""
        return seed_stats(self.scores, ddof)


def make_cells(runs: Sequence[Run]) -> list[Cell]:
    """One cell per (task, mode, algorithm) over the given (checked) runs, in table order."""
    groups: dict[tuple[str, str], list[Run]] = defaultdict(list)
    for run in runs:
        groups[(run.task, run.algo)].append(run)
    cells = []
    for (task, algo), group in groups.items():
        group = sorted(group, key=lambda r: r.seed)
        modes = majority(group, lambda run: sorted(run.evaluation.modes))
        for mode in modes:
            results = [run.evaluation.mode(mode) for run in group]
            cells.append(
                Cell(
                    task=task,
                    mode=mode,
                    algo=algo,
                    metric=group[0].metric,
                    step=group[0].step,
                    frames=results[0].frames,
                    seeds=tuple(run.seed for run in group),
                    scores=tuple(score(r) for r in results),
                    returns=tuple(r.return_mean for r in results),
                    episodes=tuple(r.episodes for r in results),
                    runs=tuple(run.path for run in group),
                )
            )
    return sorted(
        cells,
        key=lambda c: (
            _order(c.mode, MODE_ORDER),
            _order(c.task, TASK_ORDER),
            _order(c.algo, ALGO_ORDER),
        ),
    )


def _order(name: str, known: Sequence[str]) -> tuple[int, str]:
    return (known.index(name), "") if name in known else (len(known), name)


def sort_names(names: Iterable[str], known: Sequence[str]) -> list[str]:
    """Distinct names, those in ``known`` first in its order, then the rest alphabetically."""
    return sorted(set(names), key=lambda n: _order(n, known))


# --- aggregates (rliable) ----------------------------------------------------------------------


@dataclass(frozen=True)
class Aggregate:
    """IQM and mean of normalised scores across tasks and seeds, with 95% bootstrap CIs.

    Attributes:
        metric: ``return`` (normalised by :data:`DMC_MAX_RETURN`) or ``success``.
        tasks: the tasks aggregated over.
        runs: the number of (seed, task) scores.
        iqm_ci, mean_ci: (lower, upper) bounds of the 95% confidence intervals.
    """

    metric: str
    mode: str
    algo: str
    tasks: tuple[str, ...]
    runs: int
    iqm: float
    iqm_ci: tuple[float, float]
    mean: float
    mean_ci: tuple[float, float]


def _normalised(cell: Cell) -> np.ndarray:
    scores = np.asarray(cell.scores, dtype=np.float64)
    return scores / DMC_MAX_RETURN if cell.metric == "return" else scores


def _iqm_and_mean(scores: np.ndarray) -> np.ndarray:
    from rliable import metrics

    return np.array([metrics.aggregate_iqm(scores), metrics.aggregate_mean(scores)])


def _iqm_and_mean_uneven(*per_task: np.ndarray) -> np.ndarray:
    from scipy import stats

    pooled = np.concatenate(per_task)
    return np.array([stats.trim_mean(pooled, 0.25), np.mean([t.mean() for t in per_task])])


def aggregate_scores(cells: Sequence[Cell], reps: int = 50_000, seed: int = 0) -> list[Aggregate]:
    """rliable's IQM and mean across tasks and seeds, per (metric, mode, algorithm).

    Scores are normalised to [0, 1]: DMC returns divided by :data:`DMC_MAX_RETURN`, success
    rates as they are. The 95% confidence intervals come from rliable's stratified bootstrap
    (``reps`` resamples of the seeds within each task, seeded with ``seed``). Where the tasks
    have unequal numbers of seeds, rliable's stratified independent bootstrap is used and the
    IQM pools all (seed, task) scores.
    """
    from rliable import library as rly

    groups: dict[tuple[str, str, str], list[Cell]] = defaultdict(list)
    for cell in cells:
        groups[(cell.metric, cell.mode, cell.algo)].append(cell)
    aggregates = []
    for (metric, mode, algo), group in groups.items():
        per_task = [_normalised(c) for c in group]
        if len({len(s) for s in per_task}) == 1:
            data: Any = np.stack(per_task, axis=1)  # (seeds, tasks)
            func = _iqm_and_mean
        else:
            data, func = per_task, _iqm_and_mean_uneven
        # rliable's StratifiedBootstrap draws from NumPy's global RNG (it ignores
        # random_state), so the global state is seeded for the call and restored after it.
        global_state = np.random.get_state()
        np.random.seed(seed)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # arch: RandomState deprecation
                point, interval = rly.get_interval_estimates(
                    {algo: data}, func, reps=reps, random_state=np.random.RandomState(seed)
                )
        finally:
            np.random.set_state(global_state)
        (iqm, mean), ci = point[algo], interval[algo]  # ci: (2, 2) lower/upper x metric
        aggregates.append(
            Aggregate(
                metric=metric,
                mode=mode,
                algo=algo,
                tasks=tuple(c.task for c in group),
                runs=sum(len(s) for s in per_task),
                iqm=float(iqm),
                iqm_ci=(float(ci[0, 0]), float(ci[1, 0])),
                mean=float(mean),
                mean_ci=(float(ci[0, 1]), float(ci[1, 1])),
            )
        )
    return sorted(
        aggregates,
        key=lambda a: (a.metric, _order(a.mode, MODE_ORDER), _order(a.algo, ALGO_ORDER)),
    )
