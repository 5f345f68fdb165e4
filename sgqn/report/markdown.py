"""A report as Markdown: the tables in the SGQN paper's layout, the published comparison, the
aggregates, the curves, the notes and the skipped runs (what ``python -m sgqn.report`` prints).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

from sgqn.report.build import Report
from sgqn.report.scores import ABLATIONS, ALGO_ORDER, DMC_MAX_RETURN, Cell, seed_stats, sort_names
from sgqn.results.published import Published

__all__ = ["render_markdown", "METRIC_TITLES"]

METRIC_TITLES = {"return": "episode return", "success": "success rate"}


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
        mean, std = seed_stats(cell.returns, report.ddof)  # the paper prints returns everywhere
        paper_std = math.nan if found.std is None else found.std
        rows.append(
            [
                cell.mode,
                cell.task,
                cell.algo,
                f"{_fmt(mean, std, 'return')} ({len(cell.seeds)})",
                f"{_fmt(found.mean, paper_std, 'return')} (Table {found.table})",
                f"{mean - found.mean:+.0f}",
            ]
        )
    if rows:
        header = ["mode", "task", "algo", "ours (return)", "published", "Δ (ours − published)"]
        out += [_table(rows, header), ""]
        out.append(
            "The published numbers are end-of-training returns of the paper's protocol (robot "
            "tasks too: Table 6 prints returns); ours are at the step named above, whatever "
            "protocol the runs ran. `--paper-table N` prints a table in the paper's layout and "
            "pairs runs with its cells only where the protocol matches."
        )
    else:
        out.append("No published number matches these runs' (task, mode, algorithm).")
    out += ["", f"Source: {published.citation}"]
    disagree = published.image_disagreements()
    if disagree:
        out[-1] += " Where the authors' repository image differs, the paper's number is used: "
        out[-1] += "; ".join(disagree) + "."
    else:
        out[-1] += (
            f" The {len(published.image_cells)} cells of the comparison image in the authors' "
            "repository agree with the paper's Table 1."
        )
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


def _which_evaluation(report: Report) -> str:
    """What the scores are: results.json's final or last periodic evaluation, or a chosen one."""
    if report.step is not None:
        return f"the evaluation at step {report.step}"
    kinds = sorted({(r.evaluation.source, r.evaluation.results[0].episodes) for r in report.runs})
    names = {"final": "the final evaluation", "train": "the last periodic evaluation"}
    listed = " and ".join(f"{names.get(s, s)} ({n} episodes per mode)" for s, n in kinds)
    return (
        f"each run's results.json: {listed}" if report.source == "train" else "the last evaluation"
    )


def render_markdown(report: Report) -> str:
    """The report as Markdown (what ``python -m sgqn.report`` prints and writes)."""
    which = _which_evaluation(report)
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
        out += ["", f"## Learning curves ({METRIC_TITLES[metric]})", ""]
        out.append(f"![learning curves]({path.name})")
    if report.notes:
        out += ["", "## Notes", ""] + [f"- {n}" for n in report.notes]
    if report.skipped:
        rows = [[str(s.path), s.reason] for s in report.skipped]
        out += ["", "## Skipped runs", "", _table(rows, ["run", "reason"])]
    return "\n".join(out) + "\n"
