"""A report's content: the runs found, checked, scored and aggregated (no printing here).

:func:`build_report` finds the run directories, loads each run's chosen evaluation
(``sgqn.report.run_folders``), keeps the runs that can be averaged, makes the table cells and
the rliable aggregates (``sgqn.report.scores``) and, if asked, attaches the published numbers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sgqn.config import saliency_quantile_for
from sgqn.report.run_folders import ReportError, Run, Skipped, check_runs, find_run_dirs, load_run
from sgqn.report.scores import Aggregate, Cell, aggregate_scores, make_cells
from sgqn.results.published import Published, PublishedCell, load_published

__all__ = ["Report", "ReportError", "build_report"]


@dataclass
class Report:
    """Everything a report shows; :func:`render_markdown` and :func:`write_report` print it."""

    runs: list[Run]
    skipped: list[Skipped]
    notes: list[str]
    cells: list[Cell]
    aggregates: list[Aggregate]
    ddof: int
    step: int | None
    source: str
    reps: int
    published: Published | None = None
    figures: dict[str, Path] = field(default_factory=dict)

    def published_for(self, cell: Cell) -> PublishedCell | None:
        """The paper's cell for ``cell``'s (task, mode, algorithm) at its runs' action repeat (and
        saliency quantile, for Table 7's rows): from Table 1, else 2, 6, 5, 8, 7."""
        if self.published is None:
            return None
        config = next(r.config for r in self.runs if r.path == cell.runs[0])
        repeat = config.get("action_repeat")
        rho = config.get("saliency_quantile") or saliency_quantile_for(str(config.get("env")))
        for table in (1, 2, 6, 5, 8, 7):
            found = self.published.find(
                table, cell.task, cell.mode, cell.algo,
                None if table == 8 else repeat, rho if table == 7 else None,
            )  # fmt: skip
            if found is not None:
                return found
        return None


def build_report(
    patterns: Sequence[str | Path],
    step: int | None = None,
    source: str = "train",
    ddof: int = 0,
    ignore: Sequence[str] = (),
    published: bool = False,
    reps: int = 50_000,
) -> Report:
    """Find, load and check the runs, then compute the cells and the aggregates.

    Raises:
        ReportError: bad arguments, or no run directory found.
    """
    _check_arguments(step, source, ddof, ignore, reps)
    loaded = [load_run(path, step, source) for path in find_run_dirs(patterns)]
    runs = [r for r in loaded if isinstance(r, Run)]
    skipped = [r for r in loaded if isinstance(r, Skipped)]
    kept, rejected, notes = check_runs(runs, ignore)
    cells = make_cells(kept)
    return Report(
        runs=kept,
        skipped=skipped + rejected,
        notes=notes,
        cells=cells,
        aggregates=aggregate_scores(cells, reps=reps) if cells else [],
        ddof=ddof,
        step=step,
        source=source,
        reps=reps,
        published=load_published() if published else None,
    )


def _check_arguments(step, source, ddof, ignore, reps) -> None:
    from sgqn.config import Config

    fields = {f.name for f in dataclasses.fields(Config)}
    unknown = [name for name in ignore if name not in fields]
    checks = [
        (step is None or step >= 0, f"--step must be >= 0, actual value: {step}"),
        (source in ("train", "eval"), f"--source must be train or eval, actual value: {source!r}"),
        (ddof in (0, 1), f"--ddof must be 0 or 1, actual value: {ddof}"),
        (reps > 0, f"--reps must be > 0, actual value: {reps}"),
        (
            not unknown,
            f"--ignore names no Config field: {unknown}; see python -m sgqn.train --help",
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise ReportError(message)
