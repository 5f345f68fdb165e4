"""The paper's tables cell by cell, with our runs beside the cells whose protocol they ran.

``python -m sgqn.report --paper-table N [RUNS...]`` prints Table N of the SGQN paper in its own
layout (``sgqn.report.paper_layouts``), each cell ``mean ± std`` as printed and, with RUNS, our
``mean ± std (n seeds)`` over the runs that ran that cell's protocol. A run group is paired with
a cell only when everything that shapes its numbers equals the paper's protocol for that cell:
the algorithm, task and mode, and every training setting of ``--preset paper`` for the task
(the action repeat of Table 5's starred rows, the saliency quantile of Table 7's rows, the robot
protocol of Table 6, the steps trained...), and when its evaluation is at its last step. Runs
of the same task and algorithm that differ are shown marked with the differences, never
averaged into the cell. Settings that do not change what is learned (evaluation schedule and
episodes, checkpoints, figures, devices) are not compared; the header says which evaluation our
numbers come from.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sgqn.config import ALGOS, TASK_DEFAULTS, Config, saliency_quantile_for, task_kind
from sgqn.presets import RUN_FIELDS, resolve
from sgqn.report.paper_layouts import EXTRA_MODES, TITLES, positions
from sgqn.report.run_folders import Run, Skipped, check_runs
from sgqn.report.scores import seed_stats
from sgqn.results.published import Published, PublishedCell

__all__ = ["Ours", "PaperCell", "PaperTable", "paper_table", "render_paper_table", "csv_rows"]

# Settings that do not change what a run learns: never a reason not to pair.
_NOT_COMPARED = (
    *RUN_FIELDS,
    "steps",
    "frames",  # compared as total_steps
    "eval_freq",
    "eval_episodes",
    "eval_modes",
    "eval_at_start",
    "final_eval_episodes",
    "save_freq",
    "saliency_freq",
)
_PAPER_TEST_SCENES = ("test1", "test2", "test3")


@dataclass(frozen=True)
class Ours:
    """Our numbers for one cell: mean ± std over seeds of each seed's return.

    Attributes:
        differences: how the runs' protocol differs from the cell's; empty when paired.
        episodes: episodes per mode of the evaluation the numbers come from.
        source: ``final`` (the final evaluation) or ``train`` (a periodic one).
    """

    mean: float
    std: float
    seeds: int
    differences: tuple[str, ...] = ()
    episodes: int = 0
    source: str = ""
    action_repeat: int | None = None

    @property
    def paired(self) -> bool:
        return not self.differences


@dataclass(frozen=True)
class PaperCell:
    """One printed cell and ours beside it."""

    block: str
    row: str
    column: str
    position: dict[str, Any]
    published: PublishedCell | None
    ours: Ours | None


@dataclass(frozen=True)
class PaperTable:
    number: int
    cells: tuple[PaperCell, ...]
    skipped: tuple[Skipped, ...]
    notes: tuple[str, ...]


# --- protocols -------------------------------------------------------------------------------


def _relevant(field: str, config: Config) -> bool:
    """Whether ``field`` shapes what ``config``'s algorithm learns."""
    row = config.algorithm
    saliency = row.consistency or row.attribution_ssl
    rules = {
        "svea_alpha": row.svea,
        "svea_beta": row.svea,
        "svea_augmentation": row.svea,
        "soda_batch_size": row.soda,
        "soda_tau": row.soda,
        "soda_lr": row.soda,
        "soda_beta": row.soda,
        "saliency_quantile": saliency,
        "consistency_weight": row.consistency,
        "aux_lr": row.attribution_ssl,
        "aux_beta": row.attribution_ssl,
        "attribution_head": row.attribution_ssl,
        "aux_update_freq": row.soda or row.attribution_ssl,
        "aux_augmentation": row.soda or row.attribution_ssl,
        "overlay_alpha": config.uses_overlay,
        "overlay_source": config.uses_overlay,
        "crop_margin": row.augmentation == "crop",
        "shift_pad": row.augmentation == "shift",
    }
    return rules.get(field, True)


def protocol(config: dict[str, Any], total_steps: int | None) -> dict[str, Any]:
    """What shapes a run's numbers, from its ``config.json`` config: every compared setting of
    its algorithm, unset per-task values filled in as training fills them."""
    names = {f.name for f in dataclasses.fields(Config)}
    cfg = Config(**{k: v for k, v in config.items() if k in names})
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Config):
        if f.name in _NOT_COMPARED or not _relevant(f.name, cfg):
            continue
        value = getattr(cfg, f.name)
        if value is None and f.name in TASK_DEFAULTS:
            value = TASK_DEFAULTS[f.name][task_kind(cfg.env)]
        if f.name == "saliency_quantile" and value is None:
            value = saliency_quantile_for(cfg.env)
        values[f.name] = list(value) if isinstance(value, tuple) else value
    values["total_steps"] = total_steps
    return values


def paper_protocol(task: str, algo: str, action_repeat: int, quantile: float | None) -> dict:
    """The paper's protocol for one cell: ``--preset paper`` on the task."""
    cfg = Config(
        env=f"dmcgb/{task}-train-v0",
        algo=algo,  # type: ignore[arg-type]
        action_repeat=action_repeat,
        saliency_quantile=quantile,
    )
    cfg = resolve(cfg, "paper")
    return protocol(dataclasses.asdict(cfg), cfg.total_steps())


def _differences(ours: dict[str, Any], paper: dict[str, Any]) -> list[str]:
    return [
        f"{name} {ours.get(name)!r} (paper {paper.get(name)!r})"
        for name in sorted(set(ours) | set(paper))
        if ours.get(name) != paper.get(name)
    ]


# --- our runs --------------------------------------------------------------------------------


@dataclass
class _Group:
    """Runs of one (task, algorithm) that share a protocol."""

    task: str
    algo: str
    protocol: dict[str, Any]
    runs: list[Run]

    def values(self, mode: str) -> dict[int, float]:
        """Each seed's mean return in ``mode`` (test_average: over the paper's three scenes)."""
        if mode == "test_average":
            per_scene = [self.values(m) for m in _PAPER_TEST_SCENES]
            seeds = set.intersection(*(set(v) for v in per_scene))
            return {s: float(np.mean([v[s] for v in per_scene])) for s in sorted(seeds)}
        out = {}
        for run in self.runs:
            if mode in run.evaluation.modes:
                out[run.seed] = run.evaluation.mode(mode).return_mean
        return out


def _groups(runs: Sequence[Run]) -> tuple[list[_Group], list[Skipped], list[str]]:
    by_protocol: dict[str, list[Run]] = defaultdict(list)
    skipped: list[Skipped] = []
    for run in runs:
        if run.algo not in ALGOS:  # e.g. an agent scored by dmcgb.evaluate
            reason = f"{run.algo!r} is not one of the paper's algorithms ({', '.join(ALGOS)})"
            skipped.append(Skipped(run.path, reason))
            continue
        values = protocol(run.config, run.config.get("total_steps"))
        key = json.dumps([run.task, run.algo, run.step, values], sort_keys=True, default=str)
        by_protocol[key].append(run)
    groups, notes = [], []
    for members in by_protocol.values():
        kept, rejected, group_notes = check_runs(members)
        skipped += rejected
        notes += group_notes
        if kept:
            values = protocol(kept[0].config, kept[0].config.get("total_steps"))
            groups.append(_Group(kept[0].task, kept[0].algo, values, kept))
    return groups, skipped, notes


def _ours(position: dict[str, Any], groups: Sequence[_Group], ddof: int) -> Ours | None:
    task, algo, mode = position["task"], position["algo"], position["mode"]
    found = []
    for group in groups:
        if (group.task, group.algo) != (task, algo):
            continue
        values = group.values(mode)
        if not values:
            continue
        action_repeat = position.get("action_repeat") or group.protocol.get("action_repeat")
        paper = paper_protocol(task, algo, action_repeat, position.get("saliency_quantile"))
        differences = _differences(group.protocol, paper)
        unfinished = [r for r in group.runs if r.step != r.config.get("total_steps")]
        if unfinished:
            differences.append(f"evaluated at step {unfinished[0].step}, not its last")
        mean, std = seed_stats(list(values.values()), ddof)
        evaluation = group.runs[0].evaluation
        source_mode = mode if mode in evaluation.modes else _PAPER_TEST_SCENES[0]
        found.append(
            Ours(
                mean,
                std,
                len(values),
                tuple(differences),
                evaluation.mode(source_mode).episodes,
                evaluation.source,
                group.protocol.get("action_repeat"),
            )  # fmt: skip
        )
    if not found:
        return None
    return min(found, key=lambda o: (len(o.differences), -o.seeds))


def _average(cells: Sequence[PaperCell]) -> Ours | None:
    """Ours for an Average row: the mean of the row's paired task cells, when all are paired."""
    ours = [c.ours for c in cells]
    if not ours or any(o is None or not o.paired for o in ours):
        return None
    seeds = min(o.seeds for o in ours)  # type: ignore[union-attr]
    mean = float(np.mean([o.mean for o in ours]))  # type: ignore[union-attr]
    return Ours(mean, math.nan, seeds, (), ours[0].episodes, ours[0].source)  # type: ignore[union-attr]


def paper_table(
    number: int, published: Published, runs: Sequence[Run] = (), ddof: int = 0
) -> PaperTable:
    """Table ``number`` of the paper with ours beside each cell (none without runs)."""
    groups, skipped, notes = _groups(runs)
    cells: list[PaperCell] = []
    for block, row, column, position in positions(number):
        task = position["task"]
        source = position.get("source", number)
        cell = None
        if position["mode"] not in EXTRA_MODES:
            cell = published.find(
                source, task, position["mode"], position["algo"],
                position.get("action_repeat") if source != 8 else None,
                position.get("saliency_quantile"),
            )  # fmt: skip
        ours = None if task.startswith("Average") else _ours(position, groups, ddof)
        cells.append(PaperCell(block.title, row.label, column.label, position, cell, ours))
    for i, cell in enumerate(cells):
        if cell.position["task"].startswith("Average"):
            cells[i] = dataclasses.replace(cell, ours=_average(_averaged(cell, cells)))
    return PaperTable(number, tuple(cells), tuple(skipped), tuple(dict.fromkeys(notes)))


def _averaged(average: PaperCell, cells: Sequence[PaperCell]) -> list[PaperCell]:
    """The task cells an Average row averages: its column's rows, and for Table 5's Average*
    the starred rows in place of the action-repeat-4 rows of their tasks."""
    starred = average.position["task"] == "Average*"
    return [
        c
        for c in cells
        if c.block == average.block
        and c.column == average.column
        and not c.position["task"].startswith("Average")
        and (starred or c.position.get("source") != 5)
        and not (starred and _replaced_by_starred(c, cells))
    ]


def _replaced_by_starred(cell: PaperCell, cells: Sequence[PaperCell]) -> bool:
    """Table 5's Average* uses the starred row of a task instead of its action-repeat-4 row."""
    return cell.position.get("source") == 1 and any(
        c.block == cell.block
        and c.column == cell.column
        and c.position.get("source") == 5
        and c.position["task"] == cell.position["task"]
        for c in cells
    )


# --- output ----------------------------------------------------------------------------------


def _number(value: float, digits: int) -> str:
    return f"{value:.{digits}f}" if digits else f"{value:.0f}"


def _published_text(cell: PublishedCell | None) -> str:
    if cell is None:
        return "—"
    return f"{cell.mean:g}" + ("" if cell.std is None else f" ± {cell.std:g}")


def _ours_text(ours: Ours | None, digits: int, table: int) -> str:
    if ours is None:
        return "ours —"
    std = "" if math.isnan(ours.std) else f" ± {_number(ours.std, digits)}"
    text = f"ours {_number(ours.mean, digits)}{std} ({ours.seeds})"
    if ours.differences:
        text += " ≠ " + "; ".join(ours.differences)
    elif table == 8 and ours.action_repeat is not None:
        text += f" at action repeat {ours.action_repeat} (the paper does not state its own)"
    return text


def render_paper_table(table: PaperTable, with_runs: bool) -> str:
    """Table ``table.number`` as Markdown, in the paper's layout."""
    digits = 1 if table.number == 6 else 0
    out = [f"## {TITLES[table.number]}", ""]
    paired = [c.ours for c in table.cells if c.ours is not None and c.ours.paired]
    if with_runs:
        out.append(_header(paired))
        out.append("")
    blocks = list(dict.fromkeys(c.block for c in table.cells))
    for block in blocks:
        cells = [c for c in table.cells if c.block == block]
        rows = list(dict.fromkeys(c.row for c in cells))
        columns = list(dict.fromkeys(c.column for c in cells))
        if block:
            out += [f"**{block}**", ""]
        out.append("| | " + " | ".join(columns) + " |")
        out.append("| --- " * (len(columns) + 1) + "|")
        for row in rows:
            texts = []
            for column in columns:
                cell = next(c for c in cells if c.row == row and c.column == column)
                text = _published_text(cell.published)
                if with_runs:
                    text += " · " + _ours_text(cell.ours, digits, table.number)
                texts.append(text)
            out.append(f"| {row} | " + " | ".join(texts) + " |")
        out.append("")
    notes = _notes(table)
    if notes:
        out += ["Notes:", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(out)


_ROW_KIND_NOTES = ("printed average", "starred row", "rho ")  # what the labels already say


def _notes(table: PaperTable) -> list[str]:
    """The paper's own notes, each once with the cells it concerns, and every printed average
    that is not the mean of its printed cells."""
    where: dict[str, list[str]] = defaultdict(list)
    for cell in table.cells:
        note = "" if cell.published is None else cell.published.note
        if note and not note.startswith(_ROW_KIND_NOTES) and table.number != 6:
            block = f" ({cell.block})" if cell.block else ""
            where[note].append(f"{cell.row}, {cell.column}{block}")
    notes = [
        f"{note}: {'; '.join(cells) if len(cells) <= 3 else f'{len(cells)} cells'}"
        for note, cells in where.items()
    ]
    off = []
    for cell in table.cells:
        if cell.published is None or not cell.published.is_average:
            continue
        parts = [c.published for c in _averaged(cell, table.cells) if c.published is not None]
        mean = float(np.mean([p.mean for p in parts])) if parts else math.nan
        # Integer cells and an integer average: rounding alone moves them apart by at most 1.
        if parts and abs(mean - cell.published.mean) > 1:
            block = f" {cell.block}" if cell.block else ""
            off.append(f"{cell.column}{block} {cell.published.mean:g} (mean {mean:.1f})")
    if off:
        notes.append(
            "printed averages that are not the mean of the printed cells, beyond rounding: "
            + ", ".join(off)
        )
    if table.number == 6:
        notes.append(
            "the paper's Test 1..3 are the project's test1..test3 (the authors' robot code's "
            "first three test scenes); test4 and test5 are ours only. The paper trains these "
            "250k steps, frame stack 1, random convolution for SODA, SVEA and SGQN, rho 0.95."
        )
    return notes


def _header(paired: Sequence[Ours]) -> str:
    if not paired:
        return (
            "Ours: no run ran the protocol of any cell (runs of other protocols are shown "
            "marked with ≠ and what differs)."
        )
    sources = sorted({(o.source, o.episodes) for o in paired})
    what = "; ".join(
        f"{'the final evaluation' if s == 'final' else 'the last periodic evaluation'} "
        f"({e} episodes per mode)"
        for s, e in sources
    )
    return (
        f"Paper: mean ± std over 5 seeds, as printed. Ours: mean ± std over seeds (n) of each "
        f"seed's mean return, from {what}; ≠ marks runs whose protocol differs from the "
        "cell's, which are not the paper's numbers."
    )


def csv_rows(table: PaperTable) -> list[dict[str, Any]]:
    """One row per cell: position, the published cell, ours and how it was paired."""
    rows = []
    for cell in table.cells:
        p, o = cell.published, cell.ours
        rows.append(
            {
                "table": table.number,
                "block": cell.block,
                "row": cell.row,
                "column": cell.column,
                "task": cell.position["task"],
                "mode": cell.position["mode"],
                "algo": cell.position["algo"],
                "action_repeat": "" if p is None else p.action_repeat,
                "saliency_quantile": cell.position.get("saliency_quantile", ""),
                "published_mean": "" if p is None else p.mean,
                "published_std": "" if p is None or p.std is None else p.std,
                "published_seeds": "" if p is None else p.seeds,
                "published_note": "" if p is None else p.note,
                "ours_mean": "" if o is None else o.mean,
                "ours_std": "" if o is None or math.isnan(o.std) else o.std,
                "ours_seeds": "" if o is None else o.seeds,
                "paired": "" if o is None else ("yes" if o.paired else "no"),
                "differences": "" if o is None else "; ".join(o.differences),
            }
        )
    return rows
