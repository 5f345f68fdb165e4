"""Where a run's numbers go: CSV files, TensorBoard when installed, and progress bars.

``metrics.csv`` holds one row per training episode (return, length, steps/s and the mean of
the update metrics over the episode). A CSV's header is written once; if a later row brings
new columns, the file is rewritten atomically with the wider header, so a resumed or growing
run never has misaligned rows. ``eval.csv`` (one row per evaluation and mode) is for people
to read: it is rewritten from the run's results files (``sgqn.results``), which are the
record.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from dmcgb.protocol.results import Evaluation
from sgqn.files import write_csv, writing

__all__ = ["CsvLog", "Logger", "EvalProgress"]


class CsvLog:
    """Append-only CSV of dict rows.

    Args:
        path: the CSV file; an existing file is continued.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.fields: list[str] = []
        if self.path.exists():
            with open(self.path, newline="") as f:
                self.fields = next(csv.reader(f), [])

    def rows(self) -> list[dict[str, str]]:
        """Every row written so far, as strings."""
        if not self.path.exists():
            return []
        with open(self.path, newline="") as f:
            return list(csv.DictReader(f))

    def write(self, row: dict[str, Any]) -> None:
        """Append one row (values are written with ``str``; missing columns stay empty)."""
        new = [k for k in row if k not in self.fields]
        if new or not self.path.exists():
            self._rewrite(self.rows(), self.fields + new)
        with writing(self.path), open(self.path, "a", newline="") as f:
            csv.DictWriter(f, self.fields).writerow(row)
            f.flush()

    def truncate_after(self, step: int, key: str = "step") -> None:
        """Drop rows whose ``key`` exceeds ``step`` (logged after the checkpoint a run resumes)."""
        rows = self.rows()
        kept = [r for r in rows if r.get(key, "") == "" or int(float(r[key])) <= step]
        if len(kept) != len(rows):
            self._rewrite(kept, self.fields)

    def _rewrite(self, rows: list[dict[str, Any]], fields: list[str]) -> None:
        write_csv(self.path, rows, fields)
        self.fields = fields


class EvalProgress:
    """A transient progress bar over an evaluation: agent steps taken, episodes finished.

    Call it with ``(steps, episodes_ended)`` after every batched step (the ``progress``
    argument of :func:`dmcgb.protocol.episodes.run_episodes`).
    """

    def __init__(self, label: str, episodes: int, enabled: bool = True, position: int = 0):
        self.episodes, self.done = episodes, 0
        self._bar = tqdm(
            desc=label,
            unit="step",
            leave=False,
            position=position,
            dynamic_ncols=True,
            disable=not enabled,
            mininterval=1.0,
            postfix=f"0/{episodes} episodes",
        )

    def __call__(self, steps: int, ended: int) -> None:
        if ended:
            self.done += ended
            self._bar.set_postfix_str(f"{self.done}/{self.episodes} episodes", refresh=False)
        self._bar.update(steps)

    def close(self) -> None:
        self._bar.close()


class Logger:
    """A run's metrics sink: CSV, optional TensorBoard, and progress bars.

    Args:
        run_dir: the run directory (``metrics.csv``, ``eval.csv``, ``tb/``).
        total_steps: length of the progress bar, in agent steps.
        start_step: where the bar starts (a resumed run).
        progress: show progress bars (training steps; seed updates and evaluations below it).
    """

    def __init__(
        self, run_dir: str | Path, total_steps: int, start_step: int = 0, progress: bool = True
    ) -> None:
        self.run_dir = Path(run_dir)
        self.progress = progress
        self.train = CsvLog(self.run_dir / "metrics.csv")
        self.train.truncate_after(start_step)
        self._tb = _tensorboard_writer(self.run_dir / "tb")
        self._bar = tqdm(
            total=total_steps,
            initial=start_step,
            desc="train",
            unit="step",
            dynamic_ncols=True,
            disable=not progress,
            mininterval=1.0,
        )
        self._postfix: dict[str, str] = {}

    @property
    def tensorboard(self) -> bool:
        return self._tb is not None

    def step(self, n: int = 1) -> None:
        """Advance the progress bar by ``n`` agent steps (tqdm shows steps/s)."""
        self._bar.update(n)

    def updates_bar(self, total: int) -> tqdm:
        """A transient bar under the main one for a block of updates (the seed updates)."""
        return tqdm(
            total=total,
            desc="seed updates",
            unit="update",
            leave=False,
            position=1,
            dynamic_ncols=True,
            disable=not self.progress,
            mininterval=1.0,
        )

    def eval_progress(self, step: int, episodes: int, source: str = "train") -> EvalProgress:
        """A transient bar under the main one for the evaluation at ``step``."""
        label = (
            f"final evaluation at step {step}" if source == "final" else f"evaluating step {step}"
        )
        return EvalProgress(label, episodes, self.progress, position=1)

    def log_train(self, row: dict[str, Any]) -> None:
        """One training-episode row; ``row['step']`` is the agent step."""
        self.train.write(row)
        self._to_tensorboard("train", row)
        self._postfix["return"] = f"{float(row['episode_return']):.1f}"
        self._bar.set_postfix(self._postfix, refresh=False)

    def log_eval(self, evaluation: Evaluation, evaluations: list[Evaluation]) -> None:
        """An evaluation: TensorBoard (``eval/`` or ``final/``), the bar's postfix, and
        ``eval.csv`` rewritten from ``evaluations`` (the periodic evaluations of the run so far,
        the results files' view)."""
        prefix = "eval" if evaluation.source == "train" else evaluation.source
        for result in evaluation.results:
            row = result.summary()
            self._to_tensorboard(f"{prefix}/{result.mode}", row)
            self._postfix[f"eval_{result.mode}"] = f"{result.return_mean:.1f}"
        self._bar.set_postfix(self._postfix, refresh=False)
        rows = [r.summary() for e in evaluations for r in e.results]
        fields = list(dict.fromkeys(k for row in rows for k in row))
        write_csv(self.run_dir / "eval.csv", rows, fields)

    def print(self, message: str, file: Any = None) -> None:
        """A console line (stdout, or ``file``) that does not break the progress bars."""
        self._bar.write(message, file=file)

    def _to_tensorboard(self, prefix: str, row: dict[str, Any]) -> None:
        if self._tb is None:
            return
        for key, value in row.items():
            if key != "step" and isinstance(value, (int, float)):
                self._tb.add_scalar(f"{prefix}/{key}", value, int(row["step"]))

    def close(self) -> None:
        self._bar.close()
        if self._tb is not None:
            self._tb.close()


def _tensorboard_writer(folder: Path):
    """A SummaryWriter if tensorboard is installed, else None."""
    try:
        import tensorboard  # noqa: F401
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(folder))
