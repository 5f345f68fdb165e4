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
the convention of :class:`dmcgb.protocol.results.ModeResult`); the authors' repository ships no
aggregation script, so the paper's choice cannot be checked; ``--ddof 1`` gives the sample std
(x1.118 at 5 seeds).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from sgqn.files import atomic_path, write_csv
from sgqn.report.build import Report, ReportError, build_report
from sgqn.report.markdown import render_markdown
from sgqn.report.output import write_report
from sgqn.report.paper_tables import PaperTable, csv_rows, paper_table, render_paper_table
from sgqn.report.run_folders import IGNORED_FIELDS, Run, find_run_dirs, load_run
from sgqn.results.published import TABLES, load_published

__all__ = ["main", "cli"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sgqn.report",
        description="The SGQN paper's tables from folders of runs: mean ± std over seeds per "
        "(mode, task) and algorithm, rliable aggregates, learning curves, and the runs that "
        "cannot be averaged, with the reason.",
        epilog="Writes report.md, cells.csv, aggregates.csv, skipped.csv and curves_*.png to --out.",
    )
    parser.add_argument(
        "runs", nargs="*", metavar="RUNS", help="run directories or folders of them (globs allowed)"
    )
    parser.add_argument(
        "--paper-table",
        type=_paper_table,
        metavar="N",
        help="print Table N of the SGQN paper in its layout (1, 2, 5, 6, 7, 8, or all), with "
        "our runs of each cell's protocol beside the printed cells; writes paper_table_N.md and "
        ".csv to --out. Without RUNS, the published table alone",
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


def _paper_table(text: str) -> tuple[int, ...]:
    if text == "all":
        return TABLES
    if text.isdigit() and int(text) in TABLES:
        return (int(text),)
    raise argparse.ArgumentTypeError(
        f"{text!r} is not one of the paper's result tables: {', '.join(map(str, TABLES))} or all "
        "(Tables 3 and 4 list hyper-parameters)"
    )


def paper_tables(args: argparse.Namespace) -> list[PaperTable]:
    """Print and write the paper tables ``args.paper_table`` with the runs of ``args.runs``."""
    runs, skipped = [], []
    if args.runs:
        for loaded in (load_run(p, args.step, args.source) for p in find_run_dirs(args.runs)):
            (runs if isinstance(loaded, Run) else skipped).append(loaded)
    published = load_published()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tables = []
    for number in args.paper_table:
        table = paper_table(number, published, runs, args.ddof)
        text = render_paper_table(table, with_runs=bool(args.runs))
        unused = [*skipped, *table.skipped]
        if unused:
            text += "\nRuns not used:\n\n" + "\n".join(f"- {s.path}: {s.reason}" for s in unused)
            text += "\n"
        rows = csv_rows(table)
        write_csv(out / f"paper_table_{number}.csv", rows, list(rows[0]))
        with atomic_path(out / f"paper_table_{number}.md") as tmp:
            tmp.write_text(text)
        print(text)
        tables.append(table)
    print(f"Source: {published.citation}")
    print(
        f"sgqn.report: wrote paper_table_{{{','.join(map(str, args.paper_table))}}}.md/.csv to {out}"
    )
    return tables


def main(argv: Sequence[str] | None = None) -> Report | list[PaperTable]:
    """Build, print and write a report (or, with --paper-table, the paper's tables)."""
    args = _parser().parse_args(argv)
    if args.paper_table:
        return paper_tables(args)
    if not args.runs:
        raise ReportError("name the run directories to report (RUNS), or pass --paper-table N")
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
    if isinstance(report, Report) and not report.cells:
        print("sgqn.report: no run could be included; see the skipped runs above", file=sys.stderr)
        raise SystemExit(1)
