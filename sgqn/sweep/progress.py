"""The sweep's one live line: cells done / running / failed, aggregate steps per second, ETA.

On a terminal the line is redrawn in place; elsewhere (a Slurm log, a pipe) it is printed as a
new line once a minute. Events (a cell finished, failed, retried) are printed above it.
"""

from __future__ import annotations

import collections
import datetime as dt
import sys
import time
from typing import TextIO

__all__ = ["ProgressLine", "format_duration"]

_WINDOW = 120.0  # s of history behind the steps/s figure
_NON_TTY_EVERY = 60.0  # s between lines when not on a terminal


def format_duration(seconds: float) -> str:
    """``1:02:03`` (or ``2d 3:04:05``) for a number of seconds."""
    seconds = max(0, int(round(seconds)))
    days, rest = divmod(seconds, 86400)
    text = str(dt.timedelta(seconds=rest))
    return f"{days}d {text}" if days else text


def format_rate(steps_per_second: float | None) -> str:
    """``1,234 steps/s`` (one decimal below 10), ``-- steps/s`` when unknown."""
    rate = steps_per_second
    return f"{rate:,.{0 if rate >= 10 else 1}f} steps/s" if rate else "-- steps/s"


class ProgressLine:
    """The live line of a sweep.

    Args:
        total_cells: cells in the grid.
        stream: where to write (stderr by default).
        live: redraw in place; default: whether ``stream`` is a terminal.
    """

    def __init__(self, total_cells: int, stream: TextIO | None = None, live: bool | None = None):
        self.total_cells = total_cells
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self._work: collections.deque[tuple[float, int]] = collections.deque()
        self._last_steps: dict[str, int] = {}
        self._work_done = 0  # agent steps trained since the sweep started, all cells together
        self._last_print = 0.0
        self._width = 0
        self.text = ""

    def sample(self, steps: dict[str, int], now: float | None = None) -> None:
        """Record each cell's current agent step (steps that go back, after a resume, count 0)."""
        now = time.monotonic() if now is None else now
        for name, step in steps.items():
            previous = self._last_steps.get(name)
            if previous is not None and step > previous:
                self._work_done += step - previous
            self._last_steps[name] = step
        self._work.append((now, self._work_done))
        while len(self._work) > 2 and now - self._work[1][0] >= _WINDOW:
            self._work.popleft()

    def steps_per_second(self) -> float | None:
        """Aggregate agent steps per second over the last two minutes; None until measured."""
        if len(self._work) < 2:
            return None
        (t0, w0), (t1, w1) = self._work[0], self._work[-1]
        return (w1 - w0) / (t1 - t0) if t1 > t0 and w1 > w0 else None

    def render(self, done: int, running: int, failed: int, queued: int, remaining: int) -> str:
        """The line's text, given the cells' counts and the agent steps left to train."""
        rate = self.steps_per_second()
        speed = format_rate(rate)
        eta = format_duration(remaining / rate) if rate else "--"
        if remaining == 0:
            eta = "0:00:00"
        return (
            f"sweep: {done}/{self.total_cells} done | {running} running | {failed} failed | "
            f"{queued} queued | {speed} | ETA {eta}"
        )

    def show(self, text: str) -> None:
        """Draw the line (on a terminal at once; elsewhere at most once a minute)."""
        unchanged, self.text = text == self.text, text
        now = time.monotonic()
        if self.live and not unchanged:
            pad = " " * max(0, self._width - len(text))
            self.stream.write("\r" + text + pad)
            self._width = len(text)
            self.stream.flush()
        elif not self.live and now - self._last_print >= _NON_TTY_EVERY:
            self.stream.write(text + "\n")
            self.stream.flush()
            self._last_print = now

    def event(self, message: str) -> None:
        """A line of its own above the live line."""
        if self.live and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
        self.stream.write(message + "\n")
        if self.live and self.text:
            self.stream.write(self.text)
        self.stream.flush()

    def close(self) -> None:
        """End the live line (the cursor moves to a new line)."""
        if self.live and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0
