"""Published SGQN-paper numbers, shipped as package data (``sgqn/data/published.json``).

Every number carries the source it was read from (paper, table or figure, version); the
file's ``missing`` list names the tables that could not be verified and are therefore not
shipped. ``python -m sgqn.report --published`` prints them beside a report's cells.

Example:
    >>> from sgqn.results.published import load_published
    >>> published = load_published()
    >>> published.get("WalkerWalk", "videohard", "sgqn").mean
    739.0
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["PublishedResult", "Published", "load_published"]

_SCHEMA = 1


@dataclass(frozen=True)
class PublishedResult:
    """One published cell: mean ± std over the paper's seeds.

    Attributes:
        task: our CamelCase task name, e.g. ``WalkerWalk``.
        mode: our mode name, e.g. ``videohard`` (DMControl-GB's ``video_hard``).
        algo: our ``--algo`` name.
        metric: ``return`` (DMControl-GB) or ``success`` (robot tasks, a rate in [0, 1]).
        mean: the published mean.
        std: the published standard deviation.
        source: key into :attr:`Published.sources`.
    """

    task: str
    mode: str
    algo: str
    metric: str
    mean: float
    std: float
    source: str


@dataclass(frozen=True)
class Published:
    """The shipped numbers, their sources, and the tables that are missing."""

    results: tuple[PublishedResult, ...]
    sources: dict[str, dict[str, str]]
    missing: tuple[str, ...]

    def get(self, task: str, mode: str, algo: str) -> PublishedResult | None:
        """The published cell for (task, mode, algo), None when none is shipped."""
        for result in self.results:
            if (result.task, result.mode, result.algo) == (task, mode, algo):
                return result
        return None


def load_published(path: str | Path | None = None) -> Published:
    """Read the published numbers (the package's own file unless ``path`` is given).

    Raises:
        ValueError: the file is not a published-numbers file of this schema.
    """
    if path is None:
        text = resources.files("sgqn.results").joinpath("data/published.json").read_text()
        name = "sgqn/results/data/published.json"
    else:
        text, name = Path(path).read_text(), str(path)
    data: dict[str, Any] = json.loads(text)
    if data.get("schema") != _SCHEMA:
        raise ValueError(f"{name}: expected schema {_SCHEMA}, found {data.get('schema')!r}")
    sources = {key: dict(value) for key, value in data["sources"].items()}
    results = []
    for row in data["results"]:
        if row["source"] not in sources:
            raise ValueError(f"{name}: result {row} names an unknown source")
        results.append(
            PublishedResult(
                task=row["task"],
                mode=row["mode"],
                algo=row["algo"],
                metric=row["metric"],
                mean=float(row["mean"]),
                std=float(row["std"]),
                source=row["source"],
            )
        )
    return Published(tuple(results), sources, tuple(data.get("missing", ())))
