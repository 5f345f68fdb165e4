"""Graceful stops: SIGINT (Ctrl-C) and SIGTERM (what cluster schedulers send) end a run cleanly.

A signal only sets a flag; the training loop checks it at points where its state is
consistent (between updates, between agent steps, inside an evaluation) and raises
:class:`Stopped` there, so that the run can write a checkpoint that resumes exactly. A second
Ctrl-C raises ``KeyboardInterrupt`` at once, for a user who does not want to wait.

Example:
    >>> with GracefulStop() as stop:
    ...     for step in range(3):
    ...         stop.check()  # raises Stopped after a SIGINT or SIGTERM
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

__all__ = ["GracefulStop", "Stopped", "exit_code"]


class Stopped(Exception):
    """The run was asked to stop by a signal; ``signum`` is which."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")


def exit_code(signum: int) -> int:
    """The shell's exit status for a process ended by ``signum``: 128 + signum (130, 143)."""
    return 128 + signum


class GracefulStop:
    """Turns SIGINT and SIGTERM into a flag while the ``with`` block runs.

    The previous handlers come back on exit. Outside the main thread (where Python does not
    allow signal handlers, e.g. inside some worker pools) it installs nothing and only
    :meth:`request` sets the flag.
    """

    _SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            for signum in self._SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt  # the second Ctrl-C: stop now, without a checkpoint
        self.request(signum)

    def request(self, signum: int = signal.SIGTERM) -> None:
        """Ask the loop to stop at its next check (what a signal does)."""
        if self.signum is None:
            self.signum = signum

    def check(self) -> None:
        """Raise :class:`Stopped` if a stop was requested."""
        if self.signum is not None:
            raise Stopped(self.signum)
