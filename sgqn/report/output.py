"""A report on disk: ``report.md``, ``cells.csv``, ``aggregates.csv``, ``skipped.csv`` and the
learning curves ``curves_<metric>.png``, each written atomically.
"""

from __future__ import annotations

from pathlib import Path

from sgqn.files import atomic_path, write_csv
from sgqn.report.build import Report
from sgqn.report.curves import learning_curves, save_learning_curves
from sgqn.report.markdown import METRIC_TITLES, render_markdown
from sgqn.report.scores import (
    ALGO_ORDER,
    DMC_MAX_RETURN,
    MODE_ORDER,
    TASK_ORDER,
    seed_stats,
    sort_names,
)

__all__ = ["write_report"]


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
        save_learning_curves(panels, modes, tasks, algos, path, METRIC_TITLES[metric], ylim)
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
                "published_std": "" if found is None or found.std is None else found.std,
                "return_diff_from_published": "" if found is None else return_mean - found.mean,
                "published_table": "" if found is None else found.table,
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
