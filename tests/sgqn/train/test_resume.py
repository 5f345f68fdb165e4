"""Runs that lose nothing: stops and crashes at awkward moments, then --resume, equal an
uninterrupted run metric for metric; SIGTERM saves and exits cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from dmcgb.protocol.results import FINAL_NAME, is_finished
from sgqn import train
from sgqn.agent.sac import SAC
from sgqn.config import Config
from sgqn.train import loop
from sgqn.train.checkpoint import load_checkpoint
from sgqn.train.stopping import Stopped
from tests.sgqn.runs import ENV, assert_same_state, csv_rows, json_file, tiny

_STEPS = 90  # two episodes (40 steps each) and part of a third; evaluations at 45 and 90


def _sigterm_at_update(monkeypatch, n: int) -> None:
    """Send this process SIGTERM during the n-th update from now (as a scheduler would)."""
    real = SAC.update
    calls = {"n": 0}

    def update(self, batch, step, replay=None):
        calls["n"] += 1
        if calls["n"] == n:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(self, batch, step, replay)

    monkeypatch.setattr(SAC, "update", update)


def _sigterm_in_evaluation(monkeypatch, at_step: int) -> None:
    """SIGTERM as the evaluation at ``at_step`` starts."""
    real = loop.evaluate_run

    def evaluate_run(agent, envs, **kw):
        if kw["step"] == at_step:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(agent, envs, **kw)

    monkeypatch.setattr(loop, "evaluate_run", evaluate_run)


def _crash_before_results(monkeypatch) -> None:
    """A kill after the final checkpoint, before results.json is written."""
    real = loop.write_evaluation

    def write_evaluation(run_dir, evaluation, final=False):
        if final:
            raise RuntimeError("killed")
        return real(run_dir, evaluation, final)

    monkeypatch.setattr(loop, "write_evaluation", write_evaluation)


def _assert_same_run(a, b, steps: int = _STEPS, episodes: int = 2) -> None:
    """Metric for metric: training rows, every evaluation file, results, weights, optimisers."""
    rows = csv_rows(a / "metrics.csv")
    assert rows == csv_rows(b / "metrics.csv") and len(rows) == episodes
    names = sorted(p.name for p in (a / "evals").iterdir())
    assert names == sorted(p.name for p in (b / "evals").iterdir()) and len(names) == 2
    for name in names:
        assert json_file(a / "evals" / name) == json_file(b / "evals" / name)
    assert json_file(a / FINAL_NAME) == json_file(b / FINAL_NAME)
    assert csv_rows(a / "eval.csv", ()) == csv_rows(b / "eval.csv", ())
    first, second = load_checkpoint(a / "checkpoint.pt"), load_checkpoint(b / "checkpoint.pt")
    assert first["updates"] == second["updates"] == steps - 1
    assert_same_state(first["agent"], second["agent"], "agent")


def _interrupted_three_times(tmp_path, monkeypatch, algo: str):
    """A straight run, and the same run stopped (1) by SIGTERM in the middle of the seed
    updates, (2) by SIGTERM as an evaluation starts, just after a checkpoint at that step
    would have been written, (3) killed after its final checkpoint, before results.json."""
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    train.main(tiny(algo=algo, steps=_STEPS, run_dir=str(straight)), progress=False)

    with monkeypatch.context() as m:
        _sigterm_at_update(m, 12)  # the seed updates: 20 at step 20
        with pytest.raises(Stopped):
            train.main(tiny(algo=algo, steps=_STEPS, run_dir=str(stopped)), progress=False)
    checkpoint = load_checkpoint(stopped / "checkpoint.pt")
    assert (checkpoint["step"], checkpoint["updates"]) == (20, 12)
    assert checkpoint["pending_action"] is not None  # the action chosen before the updates
    resume = Config(run_dir=str(stopped), resume=True)

    with monkeypatch.context() as m:
        _sigterm_in_evaluation(m, 45)
        with pytest.raises(Stopped):
            train.main(resume, progress=False)
    assert load_checkpoint(stopped / "checkpoint.pt")["step"] == 45  # mid-episode
    assert not (stopped / "evals" / "step00000045.json").exists()

    with monkeypatch.context() as m:
        _crash_before_results(m)
        with pytest.raises(RuntimeError, match="killed"):
            train.main(resume, progress=False)
    assert load_checkpoint(stopped / "checkpoint.pt")["step"] == _STEPS
    assert not is_finished(stopped)

    train.main(resume, progress=False)
    assert is_finished(stopped)
    return straight, stopped


def test_sac_resumes_exactly_after_stops_and_a_crash(tmp_path, monkeypatch, dmcgb_data):
    _assert_same_run(*_interrupted_three_times(tmp_path, monkeypatch, "sac"))


def test_sgqn_resumes_exactly_after_a_stop_mid_episode(tmp_path, monkeypatch, dmcgb_data):
    """SG-SAC's own state (attribution head, its optimiser, the overlay images) resumes too:
    stopped at update 30 (step 30, mid-episode, after 10 steps of overlaid updates)."""
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    run = dict(algo="sgqn", steps=50, eval_freq=25)
    train.main(tiny(**run, run_dir=str(straight)), progress=False)
    with monkeypatch.context() as m:
        _sigterm_at_update(m, 30)
        with pytest.raises(Stopped):
            train.main(tiny(**run, run_dir=str(stopped)), progress=False)
    assert load_checkpoint(stopped / "checkpoint.pt")["step"] == 30
    train.main(Config(run_dir=str(stopped), resume=True), progress=False)
    _assert_same_run(straight, stopped, steps=50, episodes=1)


def test_extending_a_finished_run_unfinishes_it_until_the_new_end(tmp_path, dmcgb_data):
    run = tmp_path / "run"
    train.main(tiny(steps=50, eval_freq=25, run_dir=str(run)), progress=False)
    assert is_finished(run) and json_file(run / FINAL_NAME)["step"] == 50
    train.main(Config(run_dir=str(run), resume=True, steps=60), progress=False)
    assert json_file(run / FINAL_NAME)["step"] == 60
    record = json_file(run / "config.json")
    assert record["total_steps"] == 60 and record["resumed"][0]["at_step"] == 50
    steps = [int(r["step"]) for r in csv_rows(run / "eval.csv")]
    assert steps == [25, 50, 60]


def test_sigterm_saves_a_checkpoint_and_exits_cleanly(tmp_path, dmcgb_data):
    """A real process, a real signal: exit status 143, a resumable checkpoint, no traceback."""
    run = tmp_path / "run"
    command = [sys.executable, "-m", "sgqn.train", "--run-dir", str(run), "--steps", "2000"]
    command += ["--env", ENV, "--algo", "sac", "--action-repeat", "25", "--init-steps", "10"]
    command += ["--num-conv-layers", "2", "--num-filters", "8", "--hidden-dim", "32"]
    command += ["--batch-size", "8", "--eval-modes", "train", "--eval-freq", "1000"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (run / "metrics.csv").exists():
            assert process.poll() is None, process.communicate()
            time.sleep(0.2)
        assert (run / "metrics.csv").exists(), "training did not finish its first episode"
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "Traceback" not in stderr
    assert "checkpoint saved" in stderr and "--resume --run-dir" in stderr
    checkpoint = load_checkpoint(run / "checkpoint.pt")
    assert 40 <= checkpoint["step"] < 2000
    assert not is_finished(run)
