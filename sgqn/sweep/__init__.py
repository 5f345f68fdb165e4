"""Multi-seed sweeps on Ray: algorithms x envs x seeds of ``sgqn.train``, resumable.

    python -m sgqn.sweep --algos sgqn sac --envs WalkerWalk CartpoleSwingup --seeds 1 2 3 --out sweeps/t1
    python -m sgqn.sweep --resume sweeps/t1     # after a crash, a reboot, a preempted node
    python -m sgqn.report sweeps/t1             # the table of the finished runs

A sweep folder holds ``sweep.json`` (the grid, written once), ``sweep.log`` (what each
invocation did), one ordinary run directory per cell, ``<Task>-<algo>-s<seed>``, and each
run's console log, ``logs/<Task>-<algo>-s<seed>.log``. A cell is finished when its ``results.json`` exists; a resumed sweep
runs only the other cells, each from its checkpoint.

Modules: ``manifest`` (the grid, ``--set``, a cell's state on disk), ``resources`` (what one
run asks Ray for), ``cell`` (one attempt: the Ray task and its training process), ``runner``
(the driver: scheduling, retries, Ctrl-C), ``progress`` (the live line), ``cli``.
Ray (``pip install ".[agent,sweep]"``) is imported only when a sweep runs.
"""

from sgqn.sweep.cli import main
from sgqn.sweep.manifest import Cell, Manifest, SweepError, read_manifest

__all__ = ["main", "Cell", "Manifest", "SweepError", "read_manifest"]
