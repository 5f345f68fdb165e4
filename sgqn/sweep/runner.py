"""The sweep's driver: connect to Ray, run every unfinished cell, retry failures, stop on Ctrl-C.

Each cell attempt is one Ray task (:func:`sgqn.sweep.cell.run_attempt`) with the run's
resources. The driver keeps at most as many tasks in Ray as the cluster can run at once (so
"running" means running), re-reads the cluster's size as nodes join, and retries a failed
attempt (killed worker, lost node, out of memory, a crash) from the run's last checkpoint up to
``max_retries`` times; a configuration or data error fails the cell at once. Ctrl-C (or SIGTERM)
cancels the tasks, whose training processes write a checkpoint and exit; a second Ctrl-C kills
them (they resume from their last periodic checkpoint).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sgqn.folder_lock import FolderLock
from sgqn.sweep.cell import last_error, run_attempt
from sgqn.sweep.cluster import cluster_nodes, import_ray
from sgqn.sweep.manifest import Cell, Manifest, cell_state, cell_step, log_path
from sgqn.sweep.progress import ProgressLine, format_duration, format_rate
from sgqn.sweep.resources import RunResources, capacity
from sgqn.train.checkpoint import config_to_dict

__all__ = ["CellResult", "Summary", "run_cells"]

SWEEP_LOG = "sweep.log"
_DRIVER_LOCK = ".sweep.lock"
_POLL = 0.25  # s between looks at finished tasks and stop requests
_SAMPLE_EVERY = 5.0  # s between reads of the running cells' step counts
_NODES_EVERY = 15.0  # s between looks at the cluster's nodes (Slurm workers join late)


# --- outcome -------------------------------------------------------------------------------


@dataclass
class CellResult:
    """How one cell fared in this invocation."""

    cell: Cell
    run_dir: Path
    status: str = "queued"  # queued, running, finished, failed, stopped, already finished
    attempts: int = 0
    error: str = ""

    @property
    def log(self) -> Path:
        return log_path(self.run_dir)


@dataclass
class Summary:
    """A sweep invocation's outcome (what the final lines print)."""

    sweep_dir: Path
    results: list[CellResult]
    seconds: float
    steps_per_second: float | None
    stopped: bool = False
    retries: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for r in self.results:
            self.counts[r.status] = self.counts.get(r.status, 0) + 1

    @property
    def ok(self) -> bool:
        return all(r.status in ("finished", "already finished") for r in self.results)

    def lines(self) -> list[str]:
        c = self.counts
        done = c.get("finished", 0) + c.get("already finished", 0)
        rate = format_rate(self.steps_per_second)
        head = (
            f"sweep summary: {done}/{len(self.results)} cells finished "
            f"({c.get('already finished', 0)} before this invocation), "
            f"{c.get('failed', 0)} failed, {c.get('stopped', 0) + c.get('queued', 0)} unfinished"
            f" | {self.retries} {'retry' if self.retries == 1 else 'retries'} | "
            f"{format_duration(self.seconds)} | {rate} | {self.sweep_dir}"
        )
        lines = [head]
        for r in self.results:
            if r.status == "failed":
                lines.append(
                    f"  FAILED {r.cell.name} after {r.attempts} attempt(s): {r.error}\n"
                    f"         log: {r.log}"
                )
        if self.ok:
            lines.append(f"next: python -m sgqn.report {self.sweep_dir}")
        else:
            lines.append(f"continue with: python -m sgqn.sweep --resume {self.sweep_dir}")
        return lines


# --- the driver ----------------------------------------------------------------------------


@contextlib.contextmanager
def driver_lock(sweep_dir: Path) -> Iterator[None]:
    """One driver per sweep folder at a time (``sgqn.folder_lock``, as runs are owned).

    Raises:
        sgqn.folder_lock.FolderInUse: another driver runs this sweep (naming it).
    """
    lock = FolderLock(sweep_dir, _DRIVER_LOCK, what=f"sweep {str(sweep_dir)!r}").acquire()
    if lock.note:
        print(f"sgqn.sweep: {lock.note}", file=sys.stderr, flush=True)
    try:
        yield
    finally:
        lock.release()


class _StopRequests:
    """Counts SIGINT/SIGTERM during the run (the first stops cleanly, the second kills)."""

    def __init__(self) -> None:
        self.count = 0
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopRequests:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.count += 1

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class _SweepLog:
    """``<sweep>/sweep.log``: what each invocation did, with times."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, message: str) -> None:
        now = dt.datetime.now().isoformat(sep=" ", timespec="seconds")
        with open(self.path, "a") as f:
            f.write(f"{now} {message}\n")


def run_cells(
    manifest: Manifest,
    sweep_dir: Path,
    resources: RunResources,
    max_retries: int = 3,
    max_concurrent: int | None = None,
    progress: ProgressLine | None = None,
) -> Summary:
    """Run every unfinished cell of the sweep on the connected Ray cluster.

    Args:
        manifest: the sweep's grid.
        sweep_dir: the sweep folder (on a filesystem every node sees).
        resources: what each run asks Ray for.
        max_retries: further attempts of a cell after a failed one.
        max_concurrent: at most this many runs at once (default: what the cluster holds).
        progress: the live line (default: on stderr).
    """
    driver = _Driver(manifest, sweep_dir, resources, max_retries, max_concurrent, progress)
    return driver.run()


class _Driver:
    """The state of one sweep invocation: the queue, the tasks in Ray, each cell's result."""

    def __init__(
        self,
        manifest: Manifest,
        sweep_dir: Path,
        resources: RunResources,
        max_retries: int,
        max_concurrent: int | None,
        progress: ProgressLine | None,
    ) -> None:
        self.ray = import_ray()
        self.manifest, self.sweep_dir, self.resources = manifest, sweep_dir, resources
        self.max_retries, self.max_concurrent = max_retries, max_concurrent
        self.log = _SweepLog(sweep_dir / SWEEP_LOG)
        self.progress = progress or ProgressLine(len(manifest.cells))
        self.totals = {c.name: manifest.total_steps(c) for c in manifest.cells}
        self.results = {c.name: CellResult(c, sweep_dir / c.name) for c in manifest.cells}
        self.steps: dict[str, int] = {}  # each cell's last known agent step
        self.queue: deque[CellResult] = deque()
        for r in self.results.values():
            if cell_state(r.run_dir) == "finished":
                r.status = "already finished"
            else:
                self.queue.append(r)
        self.inflight: dict[Any, CellResult] = {}  # Ray object ref -> its cell
        self.remote = self.ray.remote(run_attempt)
        # max_retries=0: the driver retries itself, from the run's checkpoint, and says so.
        self.options = {"max_retries": 0, **resources.ray_options()}
        self.retries = 0
        self.stop_level = 0  # 1: runs asked to checkpoint and exit; 2: runs killed

    def run(self) -> Summary:
        self.log.write(
            f"start: {len(self.queue)} of {len(self.results)} cells to run | "
            f"{self.resources.describe()} | max retries {self.max_retries}"
        )
        started = time.monotonic()
        self._sample(list(self.results))  # a resumed sweep's finished work counts as done
        next_sample = next_nodes = 0.0
        slots = 0
        with _StopRequests() as stop:
            while self.queue or self.inflight:
                now = time.monotonic()
                self._stop(stop.count)
                if now >= next_nodes:  # Slurm workers join after the head
                    slots = capacity(cluster_nodes(), self.resources, self.max_concurrent)
                    next_nodes = now + _NODES_EVERY
                while self.queue and not self.stop_level and len(self.inflight) < max(slots, 1):
                    self._submit(self.queue.popleft())
                ready = []
                if self.inflight:
                    ready, _ = self.ray.wait(list(self.inflight), num_returns=1, timeout=_POLL)
                else:
                    time.sleep(_POLL)
                for ref in ready:
                    r = self.inflight.pop(ref)
                    self._finish(r, _outcome(self.ray, ref, r))
                if now >= next_sample or ready:
                    self._sample(
                        [n for n, r in self.results.items() if r.status in ("running", "finished")]
                    )
                    next_sample = now + _SAMPLE_EVERY
                self._show()
        self.progress.close()
        summary = Summary(
            self.sweep_dir,
            list(self.results.values()),
            time.monotonic() - started,
            self.progress.steps_per_second(),
            stopped=bool(self.stop_level),
            retries=self.retries,
        )
        self.log.write(summary.lines()[0])
        return summary

    def _stop(self, requests: int) -> None:
        """Act on Ctrl-C/SIGTERM: the first asks the runs to checkpoint, the second kills."""
        if requests and not self.stop_level:
            self.stop_level = 1
            self.progress.event(
                f"stopping: {len(self.inflight)} run(s) write a checkpoint and exit "
                "(Ctrl-C again to kill them)"
            )
            self.log.write("stop requested: cancelling the running cells")
            for ref in self.inflight:
                self.ray.cancel(ref)  # KeyboardInterrupt in the task: it interrupts train
            self.queue.clear()  # the queued cells stay "queued": unfinished
        if requests > 1 and self.stop_level < 2:
            self.stop_level = 2
            self.progress.event("killing the runs (they resume from their last checkpoint)")
            for ref in self.inflight:
                self.ray.cancel(ref, force=True)

    def _submit(self, r: CellResult) -> None:
        r.attempts += 1
        r.status = "running"
        modes = self.manifest.resolved(r.cell).eval_modes
        spec = {
            "run_dir": str(r.run_dir),
            "attempt": r.attempts,
            "config": config_to_dict(self.manifest.config(r.cell, r.run_dir)),
            "threads": self.resources.cpus,
            "eval_workers": self.resources.eval_workers(len(modes)),
            "device": self.resources.device,
        }
        name = f"sgqn.sweep:{r.cell.name}"
        self.inflight[self.remote.options(name=name, **self.options).remote(spec)] = r

    def _finish(self, r: CellResult, outcome: dict[str, Any]) -> None:
        """Record an attempt's end; queue a retry of a failed one while retries are left."""
        name, status = r.cell.name, outcome["status"]
        if status in ("finished", "stopped"):
            r.status = status
            self.log.write(f"{status} {name} (attempt {r.attempts})")
            if status == "finished":
                self.progress.event(f"finished {name} (attempt {r.attempts})")
            return
        r.error = outcome["error"]
        host = f" on {outcome['host']}" if outcome.get("host") else ""
        self.log.write(f"attempt {r.attempts} of {name} failed{host}: {r.error} (log {r.log})")
        if outcome.get("retry", True) and r.attempts <= self.max_retries and not self.stop_level:
            self.retries += 1
            r.status = "queued"
            self.queue.appendleft(r)
            self.progress.event(
                f"retrying {name} from its last checkpoint (attempt {r.attempts} failed: {r.error})"
            )
        else:
            r.status = "failed"
            self.progress.event(f"FAILED {name}: {r.error} (log: {r.log})")

    def _sample(self, names: list[str]) -> None:
        """Read the named cells' agent steps from their run directories."""
        for n in names:
            done = self.results[n].status in ("finished", "already finished")
            self.steps[n] = self.totals[n] if done else cell_step(self.results[n].run_dir)
        self.progress.sample({n: self.steps[n] for n in names})

    def _show(self) -> None:
        statuses = [r.status for r in self.results.values()]
        done = sum(s in ("finished", "already finished") for s in statuses)
        remaining = sum(
            max(0, self.totals[n] - self.steps[n])
            for n, r in self.results.items()
            if r.status not in ("finished", "already finished", "failed")
        )
        text = self.progress.render(
            done, len(self.inflight), statuses.count("failed"), len(self.queue), remaining
        )
        self.progress.show(text)


def _outcome(ray: Any, ref: Any, r: CellResult) -> dict[str, Any]:
    """The task's outcome, or a failed one for a task that Ray reports lost."""
    try:
        return ray.get(ref)
    except ray.exceptions.TaskCancelledError:
        return {"status": "stopped"}
    except ray.exceptions.RayError as error:  # worker killed, node lost, out of memory
        text = str(error).strip()
        first = text.splitlines()[0].split(". ")[0] if text else ""
        message = f"{type(error).__name__}: {first}"[:300]
        tail = last_error(r.log)
        return {"status": "failed", "error": message + (f" | log: {tail}" if tail else "")}
