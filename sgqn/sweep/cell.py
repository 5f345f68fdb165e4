"""One attempt at one cell: the body of the Ray task, and the training process it starts.

The Ray task (:func:`run_attempt`) runs on whichever node Ray picks. It appends a header to the
cell's log (``<sweep>/logs/<cell>.log``), waits until no process owns the run directory (a
previous attempt's, still exiting), and starts
``python -m sgqn.sweep.cell`` (:func:`child_main`), which trains through ``sgqn.train.main``
with that log as its stdout and stderr: resuming from the checkpoint when the run has one,
else starting the cell's config afresh (in an emptied run directory: what an attempt killed
before its first checkpoint left there cannot be resumed). A cancelled task (the driver's Ctrl-C) interrupts the
training process once, so that it writes a checkpoint, and waits for it to exit.

The training process dies with the task's worker (``PR_SET_PDEATHSIG``), and owns the run
directory until it exits (``sgqn.train``'s lock, ``sgqn.folder_lock``), so a retry never
trains beside an orphan of the previous attempt. Configuration and data errors (exit status 2,
what ``sgqn.train`` refuses) fail the cell at once; crashes are retried.

This module imports neither torch nor Ray at the top: the driver and the Ray workers only
start processes and wait.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from dmcgb.protocol.results import is_finished
from sgqn.folder_lock import FolderInUse, FolderLock
from sgqn.sweep.manifest import cell_state, log_path

__all__ = ["run_attempt", "judge", "child_main", "last_error", "CONFIG_ERROR", "STOPPED"]

CONFIG_ERROR = 2  # exit status of a run whose config or data is wrong: retrying cannot help
WRITE_FAILED = 3  # exit status of a run that could not write a file (retried: I/O may recover)
STOPPED = 130  # exit status of a run stopped by SIGINT after writing its checkpoint
_LASTING_WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES}
_LOCK_WAIT = 300.0  # s: how long a retry waits for the previous attempt's process to exit
_PR_SET_PDEATHSIG = 1
_POLL = 0.2  # s between looks at the training process (and at a cancel)


def _wait_for_owner(run_dir: Path, log: Any, wait: float = _LOCK_WAIT) -> None:
    """Wait until no process owns the run (a previous attempt's training process exits).

    The training process takes the run's lock itself (``sgqn.train``); waiting here first
    means a retry never starts beside an orphan of the previous attempt, and is not refused.

    Raises:
        sgqn.folder_lock.FolderInUse: still owned after ``wait`` seconds.
    """
    if not run_dir.is_dir():
        return
    lock = FolderLock(run_dir, what=f"run {str(run_dir)!r}").acquire(wait=wait)
    lock.release()
    if lock.note:
        print(f"sgqn.sweep: {lock.note}", file=log, flush=True)


def last_error(log_path: Path, limit: int = 65536) -> str:
    """The last error line of a run's log (an exception's message), "" if it has none."""
    try:
        with open(log_path, "rb") as f:
            size = f.seek(0, 2)
            f.seek(max(0, size - limit))
            lines = [ln.strip() for ln in f.read().decode(errors="replace").splitlines()]
    except OSError:
        return ""
    lines = [ln for ln in lines if ln]
    for line in reversed(lines):
        head = line.split(":", 1)[0]
        if head.endswith(("Error", "Exception", "Interrupt", "error")) or line.startswith(
            "sgqn.sweep: error"
        ):
            return line
    return ""


def _header(attempt: int) -> str:
    now = time.strftime("%Y-%m-%d %H:%M:%S")
    host = socket.gethostname()
    return (
        f"\n=== sgqn.sweep attempt {attempt} | host {host} | Ray worker pid {os.getpid()} | {now}\n"
    )


def _interruptible() -> None:
    """Let SIGINT raise KeyboardInterrupt in this process (how Ray cancels a running task).

    A process started with SIGINT ignored (a driver run in the background with ``&``, or
    under ``nohup``) passes that on to Ray's workers, which then could not be cancelled.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _wait(child: subprocess.Popen, log: Any) -> tuple[int, bool]:
    """Wait for the child; a KeyboardInterrupt (a cancelled task) interrupts it once.

    Returns:
        The child's exit status, and whether it was interrupted.

    Polls: Ray raises a cancelled task's KeyboardInterrupt between Python bytecodes, never
    inside a blocking wait.
    """
    interrupted = False
    while True:
        try:
            return child.wait(timeout=_POLL), interrupted
        except subprocess.TimeoutExpired:
            continue
        except KeyboardInterrupt:
            if not interrupted:
                print(
                    "\nsgqn.sweep: stop requested; the run checkpoints and exits",
                    file=log,
                    flush=True,
                )
                child.send_signal(signal.SIGINT)  # train checkpoints, then exits
                interrupted = True


def run_attempt(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one attempt of a cell (the Ray task's body) and say how it ended.

    Args:
        spec: ``run_dir``, ``attempt`` (1 for the first), ``config`` (the cell's Config as a
            dict), ``threads`` (torch threads), ``eval_workers`` (processes per mode) and
            ``device``.

    Returns:
        ``status`` (``finished``, ``failed`` or ``stopped``), ``retry`` (whether another
        attempt may help), ``error`` (one line), ``returncode``, ``host``, ``pid``, ``log``.
    """
    _interruptible()
    run_dir = Path(spec["run_dir"])
    log = log_path(run_dir)
    log.parent.mkdir(parents=True, exist_ok=True)
    outcome: dict[str, Any] = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "log": str(log),
        "returncode": None,
        "error": "",
        "retry": True,
    }
    try:
        if is_finished(run_dir):
            return {**outcome, "status": "finished"}
        child_spec = {**spec, "parent": os.getpid()}
        env = {
            **os.environ,
            "OMP_NUM_THREADS": str(spec["threads"]),
            "MKL_NUM_THREADS": str(spec["threads"]),
            "PYTHONUNBUFFERED": "1",
        }
        with open(log, "a") as stream:
            stream.write(_header(spec["attempt"]))
            stream.flush()
            try:
                _wait_for_owner(run_dir, stream)
            except FolderInUse as error:
                print(f"sgqn.sweep: error: {error}", file=stream, flush=True)
                return {**outcome, "status": "failed", "error": str(error), "retry": False}
            child = subprocess.Popen(
                [sys.executable, "-m", "sgqn.sweep.cell", json.dumps(child_spec)],
                stdin=subprocess.DEVNULL,
                stdout=stream,
                stderr=subprocess.STDOUT,
                env=env,
            )
            code, interrupted = _wait(child, stream)
        finished = is_finished(run_dir)
    except KeyboardInterrupt:  # cancelled before the training process started
        return {**outcome, "status": "stopped"}
    return {**outcome, "returncode": code, **judge(code, interrupted, finished, log)}


def judge(code: int, interrupted: bool, finished: bool, log: Path) -> dict[str, Any]:
    """How an attempt ended, from the training process's exit status.

    Args:
        code: the exit status (negative: killed by that signal).
        interrupted: whether this attempt asked it to stop (SIGINT).
        finished: whether the run has its results.json.
        log: the run's log, for the error line.

    Returns:
        ``status`` (``finished``, ``stopped`` or ``failed``), and for a failure ``error`` and
        ``retry`` (False where another attempt would fail the same way).
    """
    if finished:  # results.json comes after the final checkpoint, whatever happened next
        return {"status": "finished"}
    if code == STOPPED or (interrupted and code == -signal.SIGINT):
        return {"status": "stopped"}
    if code == 0:  # deterministic: a retry would do the same
        error = "the training process exited 0 without writing results.json"
        return {"status": "failed", "error": error, "retry": False}
    if code < 0:
        error = f"the training process was killed by {signal.Signals(-code).name}"
        if -code == signal.SIGKILL:
            error += " (out of memory?)"
    else:
        error = last_error(log) or f"the training process exited with status {code}"
    return {"status": "failed", "error": error, "retry": code != CONFIG_ERROR}


# --- the training process ----------------------------------------------------------------------


def _die_with_parent(parent: int) -> None:
    """SIGTERM this process when the Ray worker that started it dies (Linux)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before prctl
        raise SystemExit("sgqn.sweep: the Ray worker that started this run is gone")


def _train(spec: dict[str, Any]) -> int:
    import dataclasses

    from sgqn import train
    from sgqn.config import Config
    from sgqn.train.checkpoint import config_from_dict
    from sgqn.train.command import RunWriteError, refusals

    # A graceful stop: sgqn.train checkpoints, then raises Stopped.
    from sgqn.train.stopping import Stopped

    run_dir = str(spec["run_dir"])
    # sgqn.train sets torch's threads from the config.
    run: dict[str, Any] = {
        "run_dir": run_dir,
        "device": spec["device"],
        "threads": int(spec["threads"]),
    }
    if cell_state(run_dir) == "checkpointed":
        print("sgqn.sweep: resuming from the run's checkpoint", flush=True)
        cfg = Config(resume=True, **run)
    else:
        if Path(run_dir).exists():  # what an attempt killed before its first checkpoint left
            shutil.rmtree(run_dir)
            print("sgqn.sweep: removed the unresumable partial run (no checkpoint)", flush=True)
        print("sgqn.sweep: starting the run afresh", flush=True)
        cfg = dataclasses.replace(config_from_dict(spec["config"]), **run)
    try:
        train.main(cfg, progress=False, eval_workers=int(spec["eval_workers"]))
    except RunWriteError as error:
        print(f"sgqn.sweep: error: {type(error).__name__}: {error}", flush=True)
        # a full disk or quota, or no permission, stays so; other I/O errors may pass
        return CONFIG_ERROR if error.errno in _LASTING_WRITE_ERRORS else WRITE_FAILED
    except refusals() as error:  # what sgqn.train refuses with exit status 2
        print(f"sgqn.sweep: error: {type(error).__name__}: {error}", flush=True)
        return CONFIG_ERROR
    except Stopped:
        print("sgqn.sweep: stopped", flush=True)
        return STOPPED
    return 0


def child_main(argv: list[str]) -> int:
    """``python -m sgqn.sweep.cell SPEC``: train one cell (resume when it has a checkpoint)."""
    spec = json.loads(argv[0])
    _interruptible()  # a child inherits the Ray worker's signal mask and ignored signals
    _die_with_parent(int(spec["parent"]))
    print(f"sgqn.sweep: training process pid {os.getpid()}", flush=True)
    try:
        return _train(spec)
    except KeyboardInterrupt:  # before training started (sgqn.train checkpoints once it has)
        print("sgqn.sweep: stopped", flush=True)
        return STOPPED


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
