"""Where a run's numbers go: CSV files, TensorBoard when installed, and a progress bar.

``metrics.csv`` holds one row per training episode (return, length, steps/s and the mean of
the update metrics over the episode); ``eval.csv`` one row per (evaluation, mode). A CSV's
header is written once; if a later row brings new columns, the file is rewritten atomically
with the wider header, so a resumed or growing run never has misaligned rows.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from sgqn.files import write_csv

__all__ = ["CsvLog", "Logger"]


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
        with open(self.path, "a", newline="") as f:
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


class Logger:
    """A run's metrics sink: CSV, optional TensorBoard, and a tqdm progress bar.

    Args:
        run_dir: the run directory (``metrics.csv``, ``eval.csv``, ``tb/``).
        total_steps: length of the progress bar, in agent steps.
        start_step: where the bar starts (a resumed run).
        progress: show the progress bar.
    """

    def __init__(
        self, run_dir: str | Path, total_steps: int, start_step: int = 0, progress: bool = True
    ) -> None:
        self.run_dir = Path(run_dir)
        self.train = CsvLog(self.run_dir / "metrics.csv")
        self.eval = CsvLog(self.run_dir / "eval.csv")
        self.train.truncate_after(start_step)
        self.eval.truncate_after(start_step)
        self._tb = _tensorboard_writer(self.run_dir / "tb")
        self._bar = tqdm(
            total=total_steps,
            initial=start_step,
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

    def log_train(self, row: dict[str, Any]) -> None:
        """One training-episode row; ``row['step']`` is the agent step."""
        self.train.write(row)
        self._to_tensorboard("train", row)
        self._postfix["return"] = f"{float(row['episode_return']):.1f}"
        self._bar.set_postfix(self._postfix, refresh=False)

    def log_eval(self, row: dict[str, Any]) -> None:
        """One evaluation row for one mode (``row['mode']``)."""
        self.eval.write(row)
        self._to_tensorboard(f"eval/{row['mode']}", row)
        self._postfix[f"eval_{row['mode']}"] = f"{float(row['return_mean']):.1f}"
        self._bar.set_postfix(self._postfix, refresh=False)

    def print(self, message: str) -> None:
        """A console line that does not break the progress bar."""
        self._bar.write(message)

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
