"""``--resume`` checks what it resumes, before any set-up, on real runs: a checkpoint from
another run, flags that would change the run, and a replay buffer with a chunk missing or
damaged are each refused with one line and exit status 2, changing nothing; the flags a run
may change are applied and printed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from dmcgb.protocol.results import is_finished
from sgqn import train
from sgqn.train.checkpoint import load_checkpoint
from sgqn.train.prepare import prepare
from sgqn.train.resume import given_fields
from tests.sgqn.runs import json_file


@pytest.fixture
def run(finished_runs, tmp_path, dmcgb_data) -> Path:
    """A copy of the finished sac run."""
    return Path(shutil.copytree(finished_runs / "sac", tmp_path / "run"))


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _refused(capsys, run: Path, *flags: str) -> str:
    before = _snapshot(run)
    with pytest.raises(SystemExit) as exit_info:
        train.cli(["--resume", "--run-dir", str(run), *flags])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    assert "Traceback" not in err and err.strip().count("\n") == 0, err
    assert _snapshot(run) == before  # nothing on disk changed
    return err


def test_another_runs_checkpoint_is_refused_naming_both(run, finished_runs, capsys):
    """Once an sgqn checkpoint in a sac run resumed to exit 0, leaving config.json saying sgqn
    and results.json saying sac."""
    shutil.copy(finished_runs / "sgqn" / "checkpoint.pt", run / "checkpoint.pt")
    err = _refused(capsys, run, "--steps", "60")
    assert "checkpoint.pt does not belong to this run: checkpoint vs config.json:" in err
    assert "algo: 'sgqn' vs 'sac'" in err and "put back this run's checkpoint" in err


def test_another_tasks_checkpoint_is_refused_before_loading_its_weights(run, capsys):
    """Once a shape-mismatch traceback after "resuming at step"."""
    payload = torch.load(run / "checkpoint.pt", weights_only=True)
    payload["config"]["env"] = "dmcgb/WalkerWalk-train-v0"
    payload["action_shape"] = [6]
    torch.save(payload, run / "checkpoint.pt")
    err = _refused(capsys, run, "--steps", "60")
    assert "env: 'dmcgb/WalkerWalk-train-v0' vs 'dmcgb/CartpoleBalance-train-v0'" in err
    assert "action shape: [6] vs [1]" in err


def test_a_run_without_its_record_is_not_resumed_blindly(run, capsys):
    (run / "config.json").unlink()
    err = _refused(capsys, run, "--steps", "60")
    assert "config.json is missing" in err


def test_flags_that_would_change_the_run_are_refused_naming_each(run, capsys):
    """Once silently ignored: --resume trained on as sac at the saved batch size and modes."""
    err = _refused(capsys, run, "--batch-size", "32", "--algo", "sgqn", "--eval-modes", "videohard")
    assert "--resume keeps the run's settings, but the command changes" in err
    assert "--algo sgqn (the run's: sac)" in err
    assert "--batch-size 32 (the run's: 8)" in err
    assert "--eval-modes videohard (the run's: train)" in err
    assert (
        "only --steps, --frames, --device, --threads, --overlap, --compile, --save-freq, "
        "--save-video may change" in err
    )
    err = _refused(capsys, run, "--steps", "30")
    assert "--steps 30 is below the run's step 50: a run cannot be shortened" in err


def test_changeable_flags_are_applied_and_printed(run, capsys):
    argv = ["--resume", "--run-dir", str(run), "--steps", "60", "--save-freq", "30"]
    argv += ["--algo", "sac", "--batch-size", "8"]  # the run's own values
    train.main(train.parse_args(argv), progress=False, given=given_fields(argv))
    out = capsys.readouterr().out
    assert "sgqn.train: --resume changes --steps 50 -> 60, --save-freq 20 -> 30" in out
    assert is_finished(run) and json_file(run / "results.json")["step"] == 60
    record = json_file(run / "config.json")
    assert record["config"]["save_freq"] == 30 and record["total_steps"] == 60
    assert record["resumed"][0]["changed"] == {"steps": [50, 60], "save_freq": [20, 30]}
    assert load_checkpoint(run / "checkpoint.pt")["config"]["batch_size"] == 8


def test_how_a_run_executes_may_change_on_resume_and_is_kept_otherwise(run, capsys):
    argv = ["--resume", "--run-dir", str(run), "--steps", "60", "--no-overlap", "--compile"]
    resumed = prepare(train.parse_args(argv), given_fields(argv))[0]
    assert (resumed.overlap, resumed.compile) == (False, True)
    out = capsys.readouterr().out
    assert (
        "--resume changes --steps 50 -> 60, --overlap True -> False, --compile False -> True" in out
    )
    argv = ["--resume", "--run-dir", str(run), "--steps", "60"]
    resumed = prepare(train.parse_args(argv), given_fields(argv))[0]
    assert (resumed.overlap, resumed.compile) == (True, False)  # the run's own values


def test_a_missing_middle_replay_chunk_is_refused_naming_it(run, capsys):
    """Once accepted: the run trained on with those transitions gone."""
    middle = sorted((run / "replay").glob("chunk_*"))[1]
    middle.unlink()
    err = _refused(capsys, run, "--steps", "60")
    assert "transitions 20 to 40 are missing (no chunk_000000000020_*.npz before" in err
    assert "restore replay/ from a backup, or start a new run" in err


def test_a_truncated_or_corrupted_replay_chunk_is_refused_naming_it(run, capsys):
    """Once a zipfile.BadZipFile traceback."""
    chunk = sorted((run / "replay").glob("chunk_*"))[0]
    data = chunk.read_bytes()
    chunk.write_bytes(data[: len(data) // 2])
    err = _refused(capsys, run, "--steps", "60")
    assert f"replay chunk '{chunk}' is damaged and cannot be read (BadZipFile" in err
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10  # a frame's pixel: only the zip's CRC can tell
    chunk.write_bytes(bytes(flipped))
    err = _refused(capsys, run, "--steps", "60")
    assert f"replay chunk '{chunk}' is damaged and cannot be read (bad data in frames.npy)" in err


def test_the_identity_check_accepts_a_moved_run(run, tmp_path):
    """The record's run_dir is where the run started; a moved run resumes."""
    moved = Path(shutil.move(run, tmp_path / "moved"))
    train.main(train.parse_args(["--resume", "--run-dir", str(moved), "--steps", "55"]),
               progress=False, given={"resume", "run_dir", "steps"})  # fmt: skip
    assert json_file(moved / "results.json")["step"] == 55
