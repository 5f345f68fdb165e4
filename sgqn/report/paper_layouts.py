"""The SGQN paper's result tables as printed: which cell stands in which row and column.

A table is a list of :class:`Block` (one printed table, or one of its parts, e.g. Table 1's
video_easy and video_hard halves). A cell's position is the union of what its block, row and
column fix: the task, mode and algorithm, and where the paper prints several rows of one task
the protocol that tells them apart (Table 5's action repeats, Table 7's saliency quantiles).
``source`` names the table a cell's published number is read from: Table 5 repeats Table 1's
rows and adds two, so its other rows read Table 1.

Table 6 (robot tasks): the paper's Test 1, 2, 3 are the project's ``test1``, ``test2``,
``test3``. The authors' robot code (SuReLI/SGQN, robot_env) builds five test scenes,
``*_test1.xml`` .. ``*_test5.xml``, whose colours and table textures the project's five variants
copy one for one, evaluates all five, and logs them by these numbers; the paper prints three and
nothing in the code renumbers them, so its Test k is taken to be the code's test k. The
project's ``test4`` and ``test5`` are extra columns, ours only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Line", "Block", "LAYOUTS", "TITLES", "DMC_TASKS", "TASK_LABELS", "ALGO_LABELS"]

DMC_TASKS = ("WalkerWalk", "WalkerStand", "BallInCupCatch", "CartpoleSwingup", "FingerSpin")
TASK_LABELS = {
    "WalkerWalk": "Walker walk",
    "WalkerStand": "Walker stand",
    "BallInCupCatch": "Ball in cup",
    "CartpoleSwingup": "Cartpole swingup",
    "FingerSpin": "Finger spin",
    "RobotReach": "Reach",
    "RobotPegInBox": "Peg in box",
}
ALGO_LABELS = {
    "sac": "SAC",
    "drq": "DrQ",
    "rad": "RAD",
    "soda": "SODA",
    "svea": "SVEA",
    "svea_soda": "SVEA+SODA",
    "sac_consistency": "SAC+Consistency",
    "sac_ssl": "SAC+Self learning",
    "sgqn": "SGQN",
}
MODE_LABELS = {
    "train": "train",
    "videoeasy": "video_easy",
    "videohard": "video_hard",
    "test1": "Test 1",
    "test2": "Test 2",
    "test3": "Test 3",
    "test_average": "Test average",
    "test4": "test4 (ours only)",
    "test5": "test5 (ours only)",
}
TITLES = {
    1: "Table 1: returns on DMControl-GB's video_easy and video_hard",
    2: "Table 2: ablations (train, video_easy, video_hard)",
    5: "Table 5: Table 1 with the action repeats of Hansen et al. 2021 (Cartpole 8, Finger spin 2)",
    6: "Table 6: robot manipulation, episode returns (not success rates)",
    7: "Table 7: SGQN's saliency quantile rho, 0.98 vs 0.95",
    8: "Table 8: SVEA + SODA",
}
_PAPER_TEST_SCENES = ("test1", "test2", "test3")
EXTRA_MODES = ("test4", "test5")  # robot scenes the paper does not print


@dataclass(frozen=True)
class Line:
    """A row or a column: its label and what it fixes of a cell's position."""

    label: str
    fixes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Block:
    """One printed table: a title, rows and columns."""

    title: str
    rows: tuple[Line, ...]
    columns: tuple[Line, ...]
    fixes: dict[str, Any] = field(default_factory=dict)


def _task_rows(tasks=DMC_TASKS, average: str | None = "Average", **fixes: Any) -> tuple[Line, ...]:
    rows = [Line(TASK_LABELS[t], {"task": t, **fixes}) for t in tasks]
    return (*rows, Line(average, {"task": average, **fixes})) if average else tuple(rows)


def _algo_columns(algos: tuple[str, ...]) -> tuple[Line, ...]:
    return tuple(Line(ALGO_LABELS[a], {"algo": a}) for a in algos)


def _per_mode(table: int, rows, algos: tuple[str, ...]) -> list[Block]:
    return [
        Block(MODE_LABELS[mode], rows, _algo_columns(algos), {"mode": mode, "source": table})
        for mode in ("videoeasy", "videohard")
    ]


_TABLE1_ALGOS = ("sac", "drq", "rad", "soda", "svea", "sgqn")


def _table5_rows() -> tuple[Line, ...]:
    rows: list[Line] = []
    for task in DMC_TASKS:
        rows.append(Line(TASK_LABELS[task], {"task": task, "action_repeat": 4, "source": 1}))
        starred = {"CartpoleSwingup": 8, "FingerSpin": 2}.get(task)
        if starred:
            label = f"{TASK_LABELS[task]}* (action repeat {starred})"
            rows.append(Line(label, {"task": task, "action_repeat": starred, "source": 5}))
    return (*rows, Line("Average*", {"task": "Average*", "source": 5}))


LAYOUTS: dict[int, list[Block]] = {
    1: _per_mode(1, _task_rows(action_repeat=4), _TABLE1_ALGOS),
    2: [
        Block(
            "",
            _task_rows(action_repeat=4),
            tuple(
                Line(f"{ALGO_LABELS[a]} {MODE_LABELS[m]}", {"algo": a, "mode": m})
                for a in ("sac", "sac_consistency", "sac_ssl", "sgqn")
                for m in ("train", "videoeasy", "videohard")
            ),
            {"source": 2},
        )
    ],
    5: _per_mode(5, _table5_rows(), _TABLE1_ALGOS),
    6: [
        Block(
            TASK_LABELS[task],
            _algo_columns(("sac", "soda", "svea", "sgqn")),
            tuple(
                Line(MODE_LABELS[m], {"mode": m})
                for m in ("train", *_PAPER_TEST_SCENES, "test_average", *EXTRA_MODES)
            ),
            {"task": task, "action_repeat": 1, "source": 6},
        )
        for task in ("RobotReach", "RobotPegInBox")
    ],
    7: [
        Block(
            "",
            (
                Line(TASK_LABELS["BallInCupCatch"], {"task": "BallInCupCatch", "action_repeat": 4}),
                Line(
                    f"{TASK_LABELS['CartpoleSwingup']} (action repeat 8)",
                    {"task": "CartpoleSwingup", "action_repeat": 8},
                ),
            ),
            tuple(
                Line(f"{MODE_LABELS[m]} rho {q}", {"mode": m, "saliency_quantile": q})
                for m in ("videoeasy", "videohard")
                for q in (0.98, 0.95)
            ),
            {"algo": "sgqn", "source": 7},
        )
    ],
    8: _per_mode(8, _task_rows(average=None), ("soda", "svea", "svea_soda", "sgqn")),
}


def positions(table: int) -> list[tuple[Block, Line, Line, dict[str, Any]]]:
    """Every cell of a table: (block, row, column, its position)."""
    return [
        (block, row, column, {**block.fixes, **row.fixes, **column.fixes})
        for block in LAYOUTS[table]
        for row in block.rows
        for column in block.columns
    ]
