"""What an evaluation produces, and how it is written to and read back from a run directory.

One evaluation of a run at one agent step gives one :class:`ModeResult` per test mode (or robot
variant): every episode's return, success and background, so that any statistic can be
recomputed later. The modes of one evaluation are written together, atomically, as one JSON
file (never pickle: reading a results file cannot run code):

    <run>/evals/step00010000.json    periodic evaluations during training (the curves)
    <run>/evals/final_step00500000.json  the final evaluation after training (``final``)
    <run>/evals/eval_step00500000.json  evaluations of a trained agent (``sgqn.eval``,
                                     ``dmcgb.evaluate``), kept apart
    <run>/results.json               the final evaluation, written after the final checkpoint:
                                     a run with this file is finished
    <run>/config.json                the run's record: its config (``sgqn.train.record``, or
                                     what ``dmcgb.evaluate`` knows of the agent)

``dmcgb.evaluate``, and sgqn's train, eval, report and sweep, all read and write results
through this module: it needs no torch, so any tool can write results the report reads.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dmcgb.atomic import write_text_atomic
from dmcgb.errors import DMCGBError

__all__ = [
    "ModeResult",
    "Evaluation",
    "ResultsError",
    "EVALS_DIR",
    "FINAL_NAME",
    "RECORD_NAME",
    "evaluation_path",
    "source_prefix",
    "write_evaluation",
    "read_evaluation",
    "read_evaluations",
    "read_final",
    "is_finished",
    "format_table",
]

SCHEMA = 1
EVALS_DIR = "evals"
FINAL_NAME = "results.json"
RECORD_NAME = "config.json"  # the run's record: its config and how it ran


class ResultsError(DMCGBError, ValueError):
    """A results file that cannot be read; the message names the file and the problem."""


@dataclass(frozen=True)
class ModeResult:
    """The episodes of one mode in one evaluation.

    Attributes:
        env_id: the evaluated env, e.g. ``dmcgb/WalkerWalk-videohard-v0``.
        mode: the test distribution or robot variant, e.g. ``videohard``, ``test2``.
        algo: the agent's ``--algo``.
        seed: the run seed the episodes derive from.
        step: agent steps trained when evaluated.
        frames: control steps trained (step * action_repeat).
        returns: the return of each episode, in episode order.
        successes: ``info["is_success"]`` at each episode's end (robot tasks), else None.
        videos: the background video each episode showed (video modes), else None.
        colors: the colour setting each episode drew (colour modes), else None.
    """

    env_id: str
    mode: str
    algo: str
    seed: int
    step: int
    frames: int
    returns: tuple[float, ...]
    successes: tuple[bool, ...] | None = None
    videos: tuple[int, ...] | None = None
    colors: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        n = len(self.returns)
        if n == 0:
            raise ValueError(f"{self.env_id}: a mode result needs at least one episode")
        for name in ("successes", "videos", "colors"):
            values = getattr(self, name)
            if values is not None and len(values) != n:
                raise ValueError(
                    f"{self.env_id}: {name} has {len(values)} entries for {n} episodes"
                )

    @property
    def task(self) -> str:
        """The task part of the env id: ``WalkerWalk`` for ``dmcgb/WalkerWalk-train-v0``."""
        return self.env_id.split("/")[-1].split("-")[0]

    @property
    def episodes(self) -> int:
        return len(self.returns)

    @property
    def return_mean(self) -> float:
        return math.fsum(self.returns) / len(self.returns)

    @property
    def return_std(self) -> float:
        """Standard deviation over episodes (population, ddof=0, as ``np.std``)."""
        mean = self.return_mean
        return math.sqrt(math.fsum((r - mean) ** 2 for r in self.returns) / len(self.returns))

    @property
    def success_rate(self) -> float | None:
        if self.successes is None:
            return None
        return sum(self.successes) / len(self.successes)

    def summary(self) -> dict[str, Any]:
        """One flat row (no per-episode lists): for CSV files, logs and tables."""
        row = {
            "env": self.env_id,
            "mode": self.mode,
            "algo": self.algo,
            "seed": self.seed,
            "step": self.step,
            "frames": self.frames,
            "return_mean": self.return_mean,
            "return_std": self.return_std,
            "episodes": self.episodes,
        }
        if self.successes is not None:
            row["success_rate"] = self.success_rate
        return row

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModeResult:
        def ints(key: str) -> tuple[int, ...] | None:
            return None if data.get(key) is None else tuple(int(x) for x in data[key])

        successes = data.get("successes")
        return cls(
            env_id=str(data["env_id"]),
            mode=str(data["mode"]),
            algo=str(data["algo"]),
            seed=int(data["seed"]),
            step=int(data["step"]),
            frames=int(data["frames"]),
            returns=tuple(float(x) for x in data["returns"]),
            successes=None if successes is None else tuple(bool(x) for x in successes),
            videos=ints("videos"),
            colors=ints("colors"),
        )


@dataclass(frozen=True)
class Evaluation:
    """Every mode of one evaluation of a run at one agent step.

    Attributes:
        step: agent steps trained when evaluated.
        results: one entry per mode, in the order evaluated.
        source: ``train`` (periodic, during training), ``final`` (after training) or ``eval``
            (a trained agent evaluated: ``python -m sgqn.eval``, ``dmcgb.evaluate``).
    """

    step: int
    results: tuple[ModeResult, ...]
    source: str = "train"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.results:
            raise ValueError("an evaluation needs at least one mode result")
        steps = {r.step for r in self.results}
        if steps != {self.step}:
            raise ValueError(
                f"mode results at steps {sorted(steps)} in an evaluation at {self.step}"
            )

    def mode(self, mode: str) -> ModeResult:
        """The result of one mode.

        Raises:
            KeyError: the evaluation has no such mode.
        """
        for result in self.results:
            if result.mode == mode:
                return result
        raise KeyError(
            f"no mode {mode!r} in this evaluation; it has {[r.mode for r in self.results]}"
        )

    @property
    def modes(self) -> list[str]:
        return [r.mode for r in self.results]

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "step": self.step,
            "source": self.source,
            "extra": self.extra,
            "results": [r.to_json() for r in self.results],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Evaluation:
        return cls(
            step=int(data["step"]),
            results=tuple(ModeResult.from_json(r) for r in data["results"]),
            source=str(data.get("source", "train")),
            extra=dict(data.get("extra") or {}),
        )


def source_prefix(source: str) -> str:
    """What a file of an evaluation by ``source`` starts with: none for training's, else ``eval_``."""
    return "" if source == "train" else f"{source}_"


def evaluation_path(run_dir: str | Path, step: int, source: str = "train") -> Path:
    """Where an evaluation at ``step`` is written."""
    return Path(run_dir) / EVALS_DIR / f"{source_prefix(source)}step{step:08d}.json"


def write_evaluation(run_dir: str | Path, evaluation: Evaluation, final: bool = False) -> Path:
    """Write an evaluation to ``evals/`` (atomically); with ``final``, also as ``results.json``.

    Returns:
        The path of the file in ``evals/``.
    """
    data = evaluation.to_json()
    text = json.dumps(data, indent=1) + "\n"
    path = evaluation_path(run_dir, evaluation.step, evaluation.source)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, text)
    if final:
        write_text_atomic(Path(run_dir) / FINAL_NAME, text)
    return path


def read_evaluation(path: str | Path) -> Evaluation:
    """Read one evaluation file.

    Raises:
        ResultsError: the file is not valid JSON, has another schema, or lacks fields.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ResultsError(f"cannot read the results file {str(path)!r}: {error}") from error
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise ResultsError(
            f"{str(path)!r} is not a results file of schema {SCHEMA} (found {found!r}); "
            "it was written by another version of dmcgb/sgqn, or is not a results file"
        )
    try:
        return Evaluation.from_json(data)
    except (KeyError, TypeError, ValueError) as error:
        raise ResultsError(f"{str(path)!r} is an incomplete results file: {error!r}") from error


def read_evaluations(run_dir: str | Path, source: str = "train") -> list[Evaluation]:
    """Every evaluation of a run from one source, by step (the learning curve)."""
    folder = Path(run_dir) / EVALS_DIR
    paths = sorted(folder.glob(f"{source_prefix(source)}step*.json")) if folder.is_dir() else []
    return sorted((read_evaluation(p) for p in paths), key=lambda e: e.step)


def read_final(run_dir: str | Path) -> Evaluation | None:
    """The final evaluation of a finished run, None if the run has not finished."""
    path = Path(run_dir) / FINAL_NAME
    return read_evaluation(path) if path.is_file() else None


def is_finished(run_dir: str | Path) -> bool:
    """True when the run wrote its final results (after its final checkpoint)."""
    return (Path(run_dir) / FINAL_NAME).is_file()


def format_table(evaluation: Evaluation) -> str:
    """A plain-text table of one evaluation: per mode, the return's mean and std over the
    episodes, the success rate where the env reports one, and the number of episodes."""
    successes = any(r.successes is not None for r in evaluation.results)
    header = f"{'mode':<12} {'return mean':>12} {'std':>9}"
    header += f" {'success':>8}" if successes else ""
    lines = [header + f" {'episodes':>9}"]
    for r in evaluation.results:
        line = f"{r.mode:<12} {r.return_mean:>12.1f} {r.return_std:>9.1f}"
        if successes:
            rate = r.success_rate
            line += f" {'-' if rate is None else f'{rate:.0%}':>8}"
        lines.append(line + f" {r.episodes:>9d}")
    return "\n".join(lines)
