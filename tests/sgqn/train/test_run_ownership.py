"""A run directory has one owner, with real trainings: while ``sgqn.train`` writes a run, a
second training (new, or --resume) and ``sgqn.eval`` are refused at once, naming the owner,
and change nothing; a training killed with SIGKILL leaves its lock, which --resume takes over,
saying so, and the run finishes as one run."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from dmcgb.protocol.results import is_finished
from sgqn import eval as sgqn_eval
from sgqn import train
from sgqn.folder_lock import LOCK_NAME
from sgqn.train.checkpoint import load_checkpoint
from tests.sgqn.runs import ENV, csv_rows, json_file

_FLAGS = ["--env", ENV, "--algo", "sac", "--action-repeat", "25", "--init-steps", "10"]
_FLAGS += ["--num-conv-layers", "2", "--num-filters", "8", "--hidden-dim", "32"]
_FLAGS += ["--batch-size", "8", "--eval-modes", "train", "--eval-freq", "1000"]
_FLAGS += ["--eval-episodes", "1", "--saliency-freq", "0", "--overlay-source", "embedded"]


def _refused(capsys, entry, argv) -> str:
    with pytest.raises(SystemExit) as exit_info:
        entry(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    assert "Traceback" not in err and err.strip().count("\n") == 0, err
    return err


def _wait_for(condition, what: str, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_one_training_per_run_directory_and_a_killed_ones_lock_is_taken_over(
    tmp_path, capsys, dmcgb_data
):
    """Once both trainings exited 0, metrics.csv held rows of both seeds and results.json
    named one."""
    run = tmp_path / "run"
    command = [sys.executable, "-m", "sgqn.train", *_FLAGS, "--seed", "3", "--save-freq", "40"]
    first = subprocess.Popen(
        [*command, "--run-dir", str(run), "--steps", "4000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(lambda: (run / "checkpoint.pt").is_file(), "the first checkpoint", first)
        owner = json.loads((run / LOCK_NAME).read_text())
        assert owner["pid"] == first.pid and owner["command"].startswith("python -m sgqn.train")
        names = sorted(p.name for p in run.iterdir())

        in_use = f"--run-dir '{run}' is in use by pid {first.pid} on host "
        second = [*_FLAGS, "--seed", "4", "--steps", "100", "--run-dir", str(run)]
        assert in_use in _refused(capsys, train.cli, second)
        assert in_use in _refused(capsys, train.cli, ["--resume", "--run-dir", str(run)])
        err = _refused(capsys, sgqn_eval.cli, ["--run", str(run), "--episodes", "1"])
        assert f"--run '{run}' is in use by pid {first.pid}" in err
        assert sorted(p.name for p in run.iterdir()) == names  # the refused wrote nothing
        assert json.loads((run / LOCK_NAME).read_text())["pid"] == first.pid
    finally:
        first.kill()  # SIGKILL: no cleanup, the lock file stays
        first.wait()
    assert json.loads((run / LOCK_NAME).read_text())["pid"] == first.pid
    step = load_checkpoint(run / "checkpoint.pt")["step"]

    end = step + 20
    train.main(
        train.parse_args(["--resume", "--run-dir", str(run), "--steps", str(end)]),
        progress=False,
        given={"resume", "run_dir", "steps"},
    )
    err = capsys.readouterr().err
    assert f"took over --run-dir '{run}' from pid {first.pid} on host" in err
    assert f"pid {first.pid} is no longer running" in err
    assert is_finished(run) and json_file(run / "results.json")["step"] == end
    assert not (run / LOCK_NAME).exists()
    record = json_file(run / "config.json")
    assert record["config"]["seed"] == 3 and record["resumed"][0]["changed"]["steps"] == [
        4000,
        end,
    ]
    assert {row["step"] for row in csv_rows(run / "metrics.csv")} <= {
        str(s) for s in range(end + 1)
    }


def test_a_refused_new_run_leaves_no_directory_behind(tmp_path, capsys, dmcgb_data, monkeypatch):
    """A run refused after its directory was created and locked (its eval data cannot be had
    offline) removes what it created, up to the first folder that existed."""
    monkeypatch.setenv("DMCGB_DATA_DIR", str(tmp_path / "empty-cache"))
    run = tmp_path / "a" / "b" / "run"
    argv = ["--env", ENV, "--algo", "sac", "--steps", "20", "--init-steps", "10"]
    argv += ["--eval-modes", "videohard", "--run-dir", str(run)]
    err = _refused(capsys, train.cli, argv)
    assert "video_hard" in err
    assert not (tmp_path / "a").exists()
