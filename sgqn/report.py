"""The paper's tables from a folder of runs: ``python -m sgqn.report RUNS... [--out DIR]``.

RUNS are run directories or folders holding them (a sweep folder, ``runs/``), as paths or
globs, from any mix of algorithms, tasks and seeds. The report

- takes each run's final evaluation (``results.json``; ``--step N``: its evaluation at step N;
  ``--source eval``: the evaluations written by ``python -m sgqn.eval``),
- leaves out, with the run's path and the reason, every run that is unfinished, lacks a mode
  the other runs of its (task, algorithm) have, was evaluated at another step, repeats a seed,
  or differs in any hyper-parameter but the seed and the run-bookkeeping fields
  (:data:`IGNORED_FIELDS`, ``--ignore`` adds more),
- prints and writes (Markdown and CSV) one row per (mode, task) and one column per algorithm:
  mean ± std over seeds of each seed's score, and the number of seeds, in the layout of the
  SGQN paper's tables (returns; the ablations sac / sac_consistency / sac_ssl / sgqn; robot
  success rates), optionally beside the published numbers (``--published``),
- aggregates across tasks and seeds with ``rliable`` (interquartile mean and mean with
  stratified-bootstrap 95% confidence intervals), per mode,
- draws learning curves (mean ± std over seeds) from the runs' periodic evaluations.

A seed's score is its mean return over the evaluation episodes (DMControl-GB), or its success
rate (robot tasks). The std over seeds is the population std (``ddof=0``, numpy's default and
the convention of :class:`sgqn.results.ModeResult`); the authors' repository ships no
aggregation script, so the paper's choice cannot be checked; ``--ddof 1`` gives the sample std
(x1.118 at 5 seeds).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sgqn.curves import learning_curves, save_learning_curves
from sgqn.files import atomic_path, write_csv
from sgqn.published import Published, PublishedResult, load_published
from sgqn.runs import (
    IGNORED_FIELDS,
    ReportError,
    Run,
    Skipped,
    check_runs,
    find_run_dirs,
    load_run,
)
from sgqn.scores import (
    ABLATIONS,
    ALGO_ORDER,
    DMC_MAX_RETURN,
    MODE_ORDER,
    TASK_ORDER,
    Aggregate,
    Cell,
    aggregate_scores,
    make_cells,
    seed_stats,
    sort_names,
)

__all__ = [
    "Report",
    "ReportError",
    "build_report",
    "render_markdown",
    "write_report",
    "main",
    "cli",
]

_METRIC_TITLES = {"return": "episode return", "success": "success rate"}


# --- the report --------------------------------------------------------------------------------


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

    def published_for(self, cell: Cell) -> PublishedResult | None:
        if self.published is None:
            return None
        found = self.published.get(cell.task, cell.mode, cell.algo)
        return found if found is not None and found.metric == cell.metric else None


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


def _fmt(mean: float, std: float, metric: str) -> str:
    scale, unit = (100.0, "%") if metric == "success" else (1.0, "")
    std_text = "n/a" if math.isnan(std) else f"{scale * std:.0f}"
    return f"{scale * mean:.0f} ± {std_text}{unit}"


def _table(rows: list[list[str]], header: list[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _cell_table(cells: Sequence[Cell], algos: Sequence[str], ddof: int) -> str:
    by_key = {(c.mode, c.task, c.algo): c for c in cells}
    keys = list(dict.fromkeys((c.mode, c.task) for c in cells))
    rows = []
    for mode, task in keys:
        row = [mode, task]
        for algo in algos:
            cell = by_key.get((mode, task, algo))
            row.append(
                "—"
                if cell is None
                else f"{_fmt(*cell.stats(ddof), cell.metric)} ({len(cell.seeds)})"
            )
        rows.append(row)
    return _table(rows, ["mode", "task", *algos])


def _tables_section(report: Report) -> list[str]:
    out = []
    for metric, title in (("return", "Returns"), ("success", "Success rates (robot tasks)")):
        cells = [c for c in report.cells if c.metric == metric]
        if not cells:
            continue
        algos = sort_names((c.algo for c in cells), ALGO_ORDER)
        out += ["", f"## {title}", "", _cell_table(cells, algos, report.ddof)]
        ablations = [a for a in ABLATIONS if a in algos]
        if {"sac_consistency", "sac_ssl"} & set(ablations):
            out += ["", f"### Ablations ({title.lower()})", ""]
            out.append(_cell_table(cells, ablations, report.ddof))
    return out


def _published_section(report: Report, published: Published) -> list[str]:
    out = ["", "## Compared with the published numbers", ""]
    rows = []
    for cell in report.cells:
        found = report.published_for(cell)
        if found is None:
            continue
        mean, std = cell.stats(report.ddof)
        rows.append(
            [
                cell.mode,
                cell.task,
                cell.algo,
                f"{_fmt(mean, std, cell.metric)} ({len(cell.seeds)})",
                _fmt(found.mean, found.std, cell.metric),
                f"{mean - found.mean:+.0f}",
            ]
        )
    if rows:
        header = ["mode", "task", "algo", "ours", "published", "Δ (ours − published)"]
        out += [_table(rows, header), ""]
        out.append(
            "The published numbers are end-of-training scores of the paper's protocol; ours are "
            "at the step named above."
        )
    else:
        out.append("No published number matches these runs' (task, mode, algorithm).")
    for key, info in published.sources.items():
        out += ["", f"Source `{key}`: {info['reference']} {info['where']} "]
        out[-1] += f"Table: {info['paper_table']}."
    if published.missing:
        out += ["", "Not shipped (could not be verified): " + "; ".join(published.missing) + "."]
    return out


def _aggregates_section(report: Report) -> list[str]:
    rows = [
        [
            f"return / {DMC_MAX_RETURN:g}" if a.metric == "return" else "success rate",
            a.mode,
            a.algo,
            f"{len(a.tasks)} ({', '.join(a.tasks)})",
            str(a.runs),
            f"{a.iqm:.3f} [{a.iqm_ci[0]:.3f}, {a.iqm_ci[1]:.3f}]",
            f"{a.mean:.3f} [{a.mean_ci[0]:.3f}, {a.mean_ci[1]:.3f}]",
        ]
        for a in report.aggregates
    ]
    header = ["score", "mode", "algo", "tasks", "scores", "IQM [95% CI]", "mean [95% CI]"]
    out = ["", "## Aggregates across tasks and seeds (rliable)", "", _table(rows, header), ""]
    out.append(
        f"Scores normalised to [0, 1]: DMC returns divided by {DMC_MAX_RETURN:g} (the maximum "
        "return of a 1000-step DMC episode), robot success rates as they are. Interquartile mean "
        "and mean over all (seed, task) scores; 95% stratified-bootstrap confidence intervals "
        f"({report.reps} resamples of the seeds within each task)."
    )
    task_sets = defaultdict(set)
    for a in report.aggregates:
        task_sets[(a.metric, a.mode)].add(a.tasks)
    for (_, mode), sets in sorted(task_sets.items()):
        if len(sets) > 1:
            out += ["", f"Note: in {mode}, the algorithms cover different tasks; "]
            out[-1] += "their aggregates are not comparable."
    return out


def render_markdown(report: Report) -> str:
    """The report as Markdown (what ``python -m sgqn.report`` prints and writes)."""
    which = (
        "the final evaluation" if report.step is None else f"the evaluation at step {report.step}"
    )
    by = "python -m sgqn.eval" if report.source == "eval" else "training"
    steps = sorted({(c.step, c.frames) for c in report.cells})
    at = "; ".join(f"agent step {s}, {f} frames" for s, f in steps)
    out = [
        "# sgqn report",
        "",
        f"{len(report.runs)} runs included, {len(report.skipped)} skipped. Scores from {which} "
        f"of {by}" + (f" ({at})" if at else "") + ". A cell is the mean ± std over seeds (std "
        f"with ddof={report.ddof}) of each seed's score (its mean return over the evaluation "
        "episodes, or its success rate); (n) is the number of seeds.",
    ]
    out += _tables_section(report)
    if report.published is not None:
        out += _published_section(report, report.published)
    if report.aggregates:
        out += _aggregates_section(report)
    for metric, path in report.figures.items():
        out += ["", f"## Learning curves ({_METRIC_TITLES[metric]})", ""]
        out.append(f"![learning curves]({path.name})")
    if report.notes:
        out += ["", "## Notes", ""] + [f"- {n}" for n in report.notes]
    if report.skipped:
        rows = [[str(s.path), s.reason] for s in report.skipped]
        out += ["", "## Skipped runs", "", _table(rows, ["run", "reason"])]
    return "\n".join(out) + "\n"


def write_report(report: Report, out: str | Path) -> dict[str, Path]:
    """Write the Markdown, the CSV files and the learning curves to ``out``.

    Returns:
        The written files by kind: ``markdown``, ``cells``, ``aggregates``, ``skipped`` and
        ``curves_<metric>`` for each metric that has curves.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    algos = sort_names((c.algo for c in report.cells), ALGO_ORDER)
    for metric, panels in learning_curves(report.runs, report.cells, report.ddof).items():
        keys = list(panels)
        modes = sort_names((m for m, _ in keys), MODE_ORDER)
        tasks = sort_names((t for _, t in keys), TASK_ORDER)
        path = out / f"curves_{metric}.png"
        ylim = (-0.02, 1.02) if metric == "success" else None
        save_learning_curves(panels, modes, tasks, algos, path, _METRIC_TITLES[metric], ylim)
        report.figures[metric] = path
        written[f"curves_{metric}"] = path

    rows = []
    for cell in report.cells:
        mean, std = cell.stats(report.ddof)
        return_mean, return_std = seed_stats(cell.returns, report.ddof)
        found = report.published_for(cell)
        rows.append(
            {
                "task": cell.task,
                "mode": cell.mode,
                "algo": cell.algo,
                "metric": cell.metric,
                "mean": mean,
                "std": std,
                "ddof": report.ddof,
                "seeds": len(cell.seeds),
                "seed_list": " ".join(map(str, cell.seeds)),
                "step": cell.step,
                "frames": cell.frames,
                "episodes": min(cell.episodes),
                "return_mean": return_mean,
                "return_std": return_std,
                "published_mean": "" if found is None else found.mean,
                "published_std": "" if found is None else found.std,
                "diff_from_published": "" if found is None else mean - found.mean,
                "published_source": "" if found is None else found.source,
            }
        )
    fields = list(rows[0]) if rows else ["task", "mode", "algo", "metric", "mean", "std"]
    write_csv(out / "cells.csv", rows, fields)
    written["cells"] = out / "cells.csv"
    aggregate_rows = [
        {
            "metric": a.metric,
            "mode": a.mode,
            "algo": a.algo,
            "tasks": " ".join(a.tasks),
            "scores": a.runs,
            "iqm": a.iqm,
            "iqm_low": a.iqm_ci[0],
            "iqm_high": a.iqm_ci[1],
            "mean": a.mean,
            "mean_low": a.mean_ci[0],
            "mean_high": a.mean_ci[1],
            "normalisation": f"return / {DMC_MAX_RETURN:g}" if a.metric == "return" else "none",
            "bootstrap_reps": report.reps,
        }
        for a in report.aggregates
    ]
    write_csv(
        out / "aggregates.csv",
        aggregate_rows,
        list(aggregate_rows[0]) if aggregate_rows else ["metric", "mode", "algo"],
    )
    written["aggregates"] = out / "aggregates.csv"
    write_csv(
        out / "skipped.csv",
        [{"run": str(s.path), "reason": s.reason} for s in report.skipped],
        ["run", "reason"],
    )
    written["skipped"] = out / "skipped.csv"
    markdown = out / "report.md"
    with atomic_path(markdown) as tmp:
        tmp.write_text(render_markdown(report))
    written["markdown"] = markdown
    return written


# --- command line ------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sgqn.report",
        description="The SGQN paper's tables from folders of runs: mean ± std over seeds per "
        "(mode, task) and algorithm, rliable aggregates, learning curves, and the runs that "
        "cannot be averaged, with the reason.",
        epilog="Writes report.md, cells.csv, aggregates.csv, skipped.csv and curves_*.png to --out.",
    )
    parser.add_argument(
        "runs", nargs="+", metavar="RUNS", help="run directories or folders of them (globs allowed)"
    )
    parser.add_argument("--out", default="report", help="output folder (default: report)")
    parser.add_argument(
        "--step",
        type=int,
        default=None,
        help="report the evaluation at this agent step instead of the final one",
    )
    parser.add_argument(
        "--source",
        choices=("train", "eval"),
        default="train",
        help="train: results.json and evals/step*.json; eval: the evaluations of python -m sgqn.eval",
    )
    parser.add_argument(
        "--published",
        action="store_true",
        help="show the SGQN paper's published numbers beside ours, with the difference",
    )
    parser.add_argument(
        "--ddof",
        type=int,
        choices=(0, 1),
        default=0,
        help="std over seeds: 0 population (default), 1 sample",
    )
    parser.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="FIELD",
        help="a Config field that may differ between the seeds of a group (repeatable); "
        f"always ignored: {', '.join(IGNORED_FIELDS)}",
    )
    parser.add_argument(
        "--reps",
        type=int,
        default=50_000,
        help="bootstrap resamples for the confidence intervals (default: 50000, rliable's)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> Report:
    """Build, print and write a report; return it."""
    args = _parser().parse_args(argv)
    report = build_report(
        args.runs,
        step=args.step,
        source=args.source,
        ddof=args.ddof,
        ignore=args.ignore,
        published=args.published,
        reps=args.reps,
    )
    written = write_report(report, args.out)
    print(render_markdown(report), end="")
    print(f"\nsgqn.report: wrote {', '.join(str(p) for p in written.values())}", flush=True)
    return report


def cli(argv: Sequence[str] | None = None) -> None:
    """``python -m sgqn.report``: exit 2 with a message on bad input, 1 when no run is usable."""
    try:
        report = main(argv)
    except ReportError as error:
        print(f"sgqn.report: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    if not report.cells:
        print("sgqn.report: no run could be included; see the skipped runs above", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    cli()
