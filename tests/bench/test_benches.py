"""The CPU benchmarks run end to end at tiny sizes and print a row per algorithm.

They are not timed here (speed is what they measure, on a quiet machine); this only keeps them
working as the code they drive changes (the training loop's benchmark once broke on a Config
whose frame stack is left to the task).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

_BENCH = Path(__file__).resolve().parents[2] / "bench"
_ALGOS = ("sac", "sgqn")


def _run(script: str, *args: str) -> str:
    env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    done = subprocess.run(
        [sys.executable, str(_BENCH / script), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _row(out: str, algo: str) -> list[float]:
    """The leading numbers of the printed table row that starts with ``algo``."""
    for line in out.splitlines():
        cells = line.split()
        if cells and cells[0] == algo:
            return [float(c) for c in cells[1:3]]
    raise AssertionError(f"no row for {algo} in:\n{out}")


@pytest.mark.parametrize(
    ("script", "args"),
    [
        ("sgqn_train_loop.py", ("--tiny", "--steps", "3", "--warmup", "1", "--fill", "16")),
        ("sgqn_overlap.py", ("--tiny", "--rounds", "1", "--steps", "2")),
        ("sgqn_update.py", ("--batch", "4", "--size", "64", "--repeats", "1", "--warmup", "0")),
    ],
)
def test_a_benchmark_prints_positive_figures_for_each_algo(script, args):
    out = _run(script, *args, "--algos", ",".join(_ALGOS))
    for algo in _ALGOS:
        figures = _row(out, algo)
        assert figures and all(f > 0 for f in figures[:2]), (algo, out)
