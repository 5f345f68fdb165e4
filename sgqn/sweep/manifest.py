"""The grid of a sweep, as written once to ``<sweep>/sweep.json``, and its cells' state on disk.

A sweep is algorithms x envs x seeds, plus ``--set key=value`` overrides of the run
:class:`~sgqn.config.Config` shared by every cell. Each cell is one ordinary run directory
``<sweep>/<Task>-<algo>-s<seed>``, exactly what ``python -m sgqn.train --run-dir`` makes (and
owns while it runs: its lock is the run's own); the sweep keeps the run's console log beside
it, in ``<sweep>/logs/`` (a new run needs an empty directory, so nothing of the sweep's may be
in it first). The manifest holds only the grid; whether a cell is finished is read from its
run directory
(:func:`dmcgb.protocol.results.is_finished`), never remembered anywhere else.

Nothing here imports torch at import time (the Ray workers that import it only wait).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dmcgb.protocol.results import is_finished
from sgqn.config import ALGOS, Config
from sgqn.files import atomic_path
from sgqn.presets import resolve
from sgqn.validation import check_seed

__all__ = [
    "MANIFEST_NAME",
    "LOGS_DIR",
    "log_path",
    "SweepError",
    "Cell",
    "Manifest",
    "env_id_of",
    "parse_overrides",
    "write_manifest",
    "read_manifest",
    "cell_state",
    "cell_step",
]

MANIFEST_NAME = "sweep.json"
LOGS_DIR = "logs"  # <sweep>/logs/<cell>.log: each run's console output, every attempt
SCHEMA = 1
# Config fields a --set cannot change: the grid's axes, and what the sweep decides per attempt.
_NOT_SETTABLE = {
    "env": "use --envs",
    "algo": "use --algos",
    "seed": "use --seeds",
    "run_dir": "each cell's run directory is <sweep>/<Task>-<algo>-s<seed>",
    "resume": "the sweep resumes a cell whenever it has a checkpoint",
    "device": "the sweep runs on CUDA when --gpus-per-run > 0, else on the CPU",
    "extra": "free-form notes that the run records itself",
}
_TRUE, _FALSE = {"true", "yes", "1", "on"}, {"false", "no", "0", "off"}


class SweepError(ValueError):
    """A sweep that cannot run as asked; the message names the problem and the fix."""


def env_id_of(name: str) -> str:
    """The training env id of a ``--envs`` entry: ``WalkerWalk`` -> ``dmcgb/WalkerWalk-train-v0``.

    The rule of ``sgqn.train --env`` (:func:`sgqn.validation.training_env_id`).

    Raises:
        SweepError: an unknown task name (with the closest names).
    """
    from sgqn.config import ConfigError
    from sgqn.validation import training_env_id

    try:
        return training_env_id(name, flag="--envs")
    except ConfigError as error:
        raise SweepError(str(error)) from None


def _task_of(env_id: str) -> str:
    """``WalkerWalk`` for ``dmcgb/WalkerWalk-train-v0``; other ids lose their namespace only."""
    name = env_id.split("/")[-1]
    return name.split("-")[0] if env_id.startswith("dmcgb/") else name.replace("/", "_")


# --- --set key=value ----------------------------------------------------------------------


def _parse_value(key: str, text: str, hint: Any) -> Any:
    """Convert ``text`` to the type ``hint`` of a Config field (JSON-ready: tuples as lists)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and text.lower() in ("none", "null"):
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _parse_value(key, text, inner)
    if origin is Literal:
        if text not in args:
            raise SweepError(f"--set {key}={text}: expected one of {list(args)}")
        return text
    if origin is tuple:
        return [_parse_value(key, item.strip(), args[0]) for item in text.split(",") if item]
    if hint is bool:
        if text.lower() not in _TRUE | _FALSE:
            raise SweepError(f"--set {key}={text}: expected true or false")
        return text.lower() in _TRUE
    if hint in (int, float):
        try:
            return hint(text)
        except ValueError:
            kind = "an integer" if hint is int else "a number"
            raise SweepError(f"--set {key}={text}: expected {kind}") from None
    if hint is str:
        return text
    raise SweepError(f"--set {key}: a field of type {hint} cannot be set from the command line")


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """Parse ``--set key=value`` items into typed Config overrides.

    Keys are Config field names (``eval_freq`` or ``eval-freq``); tuples are comma-separated
    (``eval_modes=train,videohard``); ``none`` clears an optional field.

    Raises:
        SweepError: a malformed item, an unknown or unsettable key, or a value of the wrong type.
    """
    hints = typing.get_type_hints(Config)
    fields = [f.name for f in dataclasses.fields(Config)]
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise SweepError(f"--set expects key=value, actual value: {item!r}")
        if key in _NOT_SETTABLE:
            raise SweepError(f"--set {key}: not a per-sweep setting ({_NOT_SETTABLE[key]})")
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise SweepError(
                f"--set {key}: not a run setting{hint} (see python -m sgqn.train --help)"
            )
        overrides[key] = _parse_value(key, text.strip(), hints[key])
    return overrides


# --- the grid -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One run of the grid."""

    env: str
    algo: str
    seed: int

    @property
    def name(self) -> str:
        """The run directory's name inside the sweep folder: ``WalkerWalk-sgqn-s1``."""
        return f"{_task_of(self.env)}-{self.algo}-s{self.seed}"


@dataclass(frozen=True)
class Manifest:
    """A sweep's grid: what ``<sweep>/sweep.json`` holds.

    Attributes:
        algos, envs, seeds: the grid's axes (envs as training env ids).
        overrides: the ``--set`` values shared by every cell (JSON-ready).
        preset: the run preset of every cell, fixed when the sweep is created so that a
            resume on other hardware runs the same protocol.
        created, command: when and how the sweep was created (for the record).
    """

    algos: tuple[str, ...]
    envs: tuple[str, ...]
    seeds: tuple[int, ...]
    overrides: dict[str, Any] = field(default_factory=dict)
    preset: str = "paper"
    created: str = ""
    command: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for axis in ("algos", "envs", "seeds"):
            values = getattr(self, axis)
            if not values:
                raise SweepError(f"--{axis} needs at least one value")
            repeated = sorted({v for v in values if values.count(v) > 1}, key=str)
            if repeated:
                raise SweepError(f"--{axis} lists {repeated} more than once")
        for seed in self.seeds:
            check_seed(seed, "--seeds")
        unknown = [a for a in self.algos if a not in ALGOS]
        if unknown:
            raise SweepError(f"--algos: unknown {unknown}; expected some of {list(ALGOS)}")
        names = [c.name for c in self.cells]
        if len(set(names)) != len(names):
            raise SweepError(f"--envs {list(self.envs)} give two cells the same folder name")

    @property
    def cells(self) -> list[Cell]:
        """Every cell, seed by seed: an early stop leaves whole tables of fewer seeds."""
        return [Cell(e, a, s) for s in self.seeds for e in self.envs for a in self.algos]

    def config(self, cell: Cell, run_dir: str | Path | None = None) -> Config:
        """The run config of a cell (preset not yet applied: ``sgqn.train`` applies it)."""
        from sgqn.train.checkpoint import config_from_dict, config_to_dict

        values = {**config_to_dict(Config()), **self.overrides}
        values.update(env=cell.env, algo=cell.algo, seed=cell.seed, preset=self.preset)
        values["run_dir"] = None if run_dir is None else str(run_dir)
        return config_from_dict(values)

    def resolved(self, cell: Cell, run_dir: str | Path | None = None) -> Config:
        """The cell's config with its preset applied: the settings the run will train with."""
        return resolve(self.config(cell, run_dir), self.preset)

    def total_steps(self, cell: Cell) -> int:
        """Agent steps the cell trains for."""
        return self.resolved(cell).total_steps()

    def same_grid(self, other: Manifest) -> bool:
        """True when ``other`` asks for the same runs (creation time and command aside)."""
        keys = ("algos", "envs", "seeds", "overrides")
        return all(getattr(self, k) == getattr(other, k) for k in keys)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "created": self.created,
            "command": list(self.command),
            "algos": list(self.algos),
            "envs": list(self.envs),
            "seeds": list(self.seeds),
            "overrides": self.overrides,
            "preset": self.preset,
            "cells": [
                {"name": c.name, "env": c.env, "algo": c.algo, "seed": c.seed} for c in self.cells
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        return cls(
            algos=tuple(data["algos"]),
            envs=tuple(data["envs"]),
            seeds=tuple(int(s) for s in data["seeds"]),
            overrides=dict(data.get("overrides") or {}),
            preset=str(data["preset"]),
            created=str(data.get("created", "")),
            command=tuple(data.get("command") or ()),
        )


def write_manifest(sweep_dir: str | Path, manifest: Manifest) -> Path:
    """Write ``sweep.json`` once (atomically); a sweep folder's grid never changes.

    Raises:
        SweepError: the folder already holds a manifest.
    """
    path = Path(sweep_dir) / MANIFEST_NAME
    if path.exists():
        raise SweepError(f"{str(path)!r} exists; a sweep's manifest is written only once")
    path.parent.mkdir(parents=True, exist_ok=True)
    if not manifest.created:
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        manifest = dataclasses.replace(manifest, created=now)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(manifest.to_json(), indent=1) + "\n")
    return path


def read_manifest(sweep_dir: str | Path) -> Manifest:
    """Read a sweep folder's manifest.

    Raises:
        SweepError: no manifest there, or one that cannot be read.
    """
    path = Path(sweep_dir) / MANIFEST_NAME
    if not path.is_file():
        raise SweepError(
            f"{str(sweep_dir)!r} is not a sweep folder (no {MANIFEST_NAME}); create one with "
            "python -m sgqn.sweep --algos ... --envs ... --seeds ... --out DIR"
        )
    try:
        data = json.loads(path.read_text())
        if data.get("schema") != SCHEMA:
            raise SweepError(f"{str(path)!r} has schema {data.get('schema')!r}, not {SCHEMA}")
        return Manifest.from_json(data)
    except (OSError, ValueError, KeyError, TypeError) as error:
        if isinstance(error, SweepError):
            raise
        raise SweepError(f"cannot read the sweep manifest {str(path)!r}: {error!r}") from error


# --- a cell's state, from its run directory ---------------------------------------------------


def log_path(run_dir: str | Path) -> Path:
    """The console log of a cell's run: ``<sweep>/logs/<cell>.log``."""
    run_dir = Path(run_dir)
    return run_dir.parent / LOGS_DIR / f"{run_dir.name}.log"


CellState = Literal["finished", "checkpointed", "new"]


def cell_state(run_dir: str | Path) -> CellState:
    """``finished`` (results written), ``checkpointed`` (resumable) or ``new``."""
    from sgqn.train.checkpoint import CHECKPOINT_NAME

    run_dir = Path(run_dir)
    if is_finished(run_dir):
        return "finished"
    return "checkpointed" if (run_dir / CHECKPOINT_NAME).is_file() else "new"


def cell_step(run_dir: str | Path) -> int:
    """Agent steps the run has logged (the last ``metrics.csv`` row), 0 before its first episode.

    Reads the header and the file's tail only, so that a driver can poll many runs.
    """
    path = Path(run_dir) / "metrics.csv"
    try:
        with open(path, "rb") as f:
            header = f.readline().decode().strip().split(",")
            size = f.seek(0, 2)
            f.seek(max(0, size - 8192))
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return 0
    if "step" not in header or len(lines) < 2:
        return 0
    column = header.index("step")
    for line in reversed(lines[1:]):  # the first line of the tail may be cut
        cells = line.split(",")
        if len(cells) == len(header) and cells[column].isdigit():
            return int(cells[column])
    return 0
