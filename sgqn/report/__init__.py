"""The paper's tables from many runs: ``python -m sgqn.report``.

Contents:
    run_folders  find run directories, load their evaluations, keep the runs that can be averaged.
    scores       a seed's score, the table cells (mean ± std over seeds), rliable aggregates.
    build        ``build_report``: a report's content.
    markdown     the report as Markdown (the tables in the paper's layout).
    curves       learning curves from the runs' periodic evaluations.
    output       the report's files (Markdown, CSV, PNG).
    command      ``python -m sgqn.report``.
"""

from sgqn.report.build import Report, ReportError, build_report
from sgqn.report.command import cli, main
from sgqn.report.markdown import render_markdown
from sgqn.report.output import write_report

__all__ = [
    "Report",
    "ReportError",
    "build_report",
    "cli",
    "main",
    "render_markdown",
    "write_report",
]
