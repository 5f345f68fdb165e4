"""The SGQN paper's published numbers, every printed cell of its result tables, as package data.

``sgqn/results/data/published.json`` holds the 268 cells of Tables 1, 2, 5, 6, 7 and 8 of
Bertoin et al., NeurIPS 2022 (HAL hal-03777742, version of 15 Sep 2022 with the appendices):
mean and std over the paper's 5 seeds, the action repeat the paper states, the saliency
quantile of Table 7's rows, and a note where the paper contradicts itself. It also keeps the
50 cells of the comparison image in the authors' repository (``DMC/figures/sgqn_perf.png``),
which :meth:`Published.image_disagreements` checks against Table 1 (they agree; the paper's
numbers are the ones used). ``python -m sgqn.report --published`` and ``--paper-table N`` print
them beside a report's cells.

Modes are the project's names (``videoeasy`` for DMControl-GB's video_easy); in Table 6 the
paper's Test 1, 2, 3 are ``test1``, ``test2``, ``test3`` and its "Test average" is
``test_average``. Tasks named ``Average`` / ``Average*`` are the paper's printed averages.

Example:
    >>> from sgqn.results.published import load_published
    >>> published = load_published()
    >>> published.find(1, "WalkerWalk", "videohard", "sgqn").mean
    739.0
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["PublishedCell", "Published", "load_published", "TABLES"]

_SCHEMA = 2
TABLES: tuple[int, ...] = (1, 2, 5, 6, 7, 8)  # the paper's result tables (3, 4: hyper-parameters)


@dataclass(frozen=True)
class PublishedCell:
    """One printed cell: mean ± std over the paper's seeds.

    Attributes:
        table: the paper's table number.
        task: our CamelCase task name (``WalkerWalk``), or ``Average`` / ``Average*``.
        mode: our mode name (``videohard``, ``train``, ``test1``, ``test_average``).
        algo: our ``--algo`` name.
        metric: ``return`` everywhere (Table 6 too: robot episode returns, not success rates).
        mean: as printed.
        std: as printed; None for the printed averages, which have none.
        seeds: how many seeds the paper averaged (5).
        action_repeat: as the paper states it; None where it does not (Table 8); a text such as
            ``"4/8/2"`` for an average over rows of several action repeats.
        saliency_quantile: rho of Table 7's rows; None elsewhere (Table 3's value of the task).
        note: where the paper contradicts itself, or how a row differs.
    """

    table: int
    task: str
    mode: str
    algo: str
    metric: str
    mean: float
    std: float | None
    seeds: int
    action_repeat: int | str | None
    saliency_quantile: float | None = None
    note: str = ""

    @property
    def is_average(self) -> bool:
        return self.task.startswith("Average")


@dataclass(frozen=True)
class Published:
    """The shipped cells, their source, and the repository image's cells."""

    cells: tuple[PublishedCell, ...]
    source: dict[str, str]
    image_source: str
    image_cells: tuple[dict[str, Any], ...]

    @property
    def citation(self) -> str:
        """The paper and the version the numbers were read from."""
        return f"{self.source['reference']} {self.source['version']}."

    def table(self, number: int) -> list[PublishedCell]:
        """The cells of one table, in the order the file lists them."""
        return [c for c in self.cells if c.table == number]

    def find(
        self,
        table: int,
        task: str,
        mode: str,
        algo: str,
        action_repeat: int | str | None = None,
        saliency_quantile: float | None = None,
    ) -> PublishedCell | None:
        """The cell of ``table`` for (task, mode, algo); where a table prints several rows of one
        task (Table 5's action repeats, Table 7's quantiles), the one with these values."""
        for cell in self.cells:
            if (cell.table, cell.task, cell.mode, cell.algo) != (table, task, mode, algo):
                continue
            if action_repeat is not None and cell.action_repeat != action_repeat:
                continue
            if saliency_quantile is not None and cell.saliency_quantile != saliency_quantile:
                continue
            return cell
        return None

    def image_disagreements(self) -> list[str]:
        """The repository image's cells that differ from the paper's Table 1, described."""
        out = []
        for cell in self.image_cells:
            paper = self.find(1, cell["task"], cell["mode"], cell["algo"])
            shown = (float(cell["mean"]), float(cell["std"]))
            if paper is None or (paper.mean, paper.std) != shown:
                printed = "none" if paper is None else f"{paper.mean:g} ± {paper.std:g}"
                out.append(
                    f"{cell['task']} {cell['mode']} {cell['algo']}: image "
                    f"{shown[0]:g} ± {shown[1]:g}, paper {printed}"
                )
        return out


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
    cells = tuple(
        PublishedCell(
            table=int(row["table"]),
            task=row["task"],
            mode=row["mode"],
            algo=row["algo"],
            metric=row["metric"],
            mean=float(row["mean"]),
            std=None if row["std"] is None else float(row["std"]),
            seeds=int(row["seeds"]),
            action_repeat=row["action_repeat"],
            saliency_quantile=row.get("saliency_quantile"),
            note=row.get("note", ""),
        )
        for row in data["cells"]
    )
    image = data["repository_image"]
    return Published(cells, dict(data["source"]), image["source"], tuple(image["cells"]))
