"""End to end: train a few hundred steps in-process, resume, evaluate a checkpoint."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from dmcgb.errors import MissingData, UnknownTask
from sgqn import eval as sgqn_eval
from sgqn import train
from sgqn.checkpoint import load_checkpoint
from sgqn.config import Config

_ENV = "dmcgb/CartpoleBalance-train-v0"
# Tiny networks and an action repeat of 8 (125-step episodes) keep this to about a minute.
_TINY = dict(
    env=_ENV,
    algo="sgqn",
    seed=3,
    action_repeat=8,
    init_steps=50,
    eval_freq=200,
    eval_episodes=1,
    eval_modes=("train", "videohard"),
    save_freq=100,
    saliency_freq=200,
    batch_size=8,
    num_conv_layers=3,
    num_filters=8,
    hidden_dim=32,
    overlay_source="embedded",
)


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _critic_updates(run_dir) -> int:
    state = load_checkpoint(run_dir / "checkpoint.pt")["agent"]["critic_optimizer"]["state"]
    return int(state[0]["step"])


def test_train_resume_and_evaluate(tmp_path, dmcgb_data):
    run_dir = tmp_path / "run"
    cfg = Config(**_TINY, steps=200, run_dir=str(run_dir))
    assert train.main(cfg, progress=False) == run_dir

    record = json.loads((run_dir / "config.json").read_text())
    assert record["config"]["preset"] == "cpu-demo" and record["total_frames"] == 1600
    assert (
        record["versions"]["torch"] == torch.__version__.split("+")[0]
        or record["versions"]["torch"]
    )
    assert record["git_revision"] and "overlay" in record["config"]["extra"]
    episodes = _rows(run_dir / "metrics.csv")
    assert [int(r["step"]) for r in episodes] == [125]
    assert float(episodes[0]["critic_loss"]) >= 0 and float(episodes[0]["episode_return"]) > 0
    evals = _rows(run_dir / "eval.csv")
    assert [(int(r["step"]), r["mode"]) for r in evals] == [(200, "train"), (200, "videohard")]
    results = json.loads((run_dir / "results.json").read_text())["results"]
    assert {r["mode"]: (r["step"], r["frames"]) for r in results} == {
        "train": (200, 1600),
        "videohard": (200, 1600),
    }
    assert (run_dir / "results.csv").is_file()
    assert (run_dir / "saliency" / "step00000200.png").stat().st_size > 10_000
    # the protocol: init_steps updates at step init_steps, then one per agent step
    assert _critic_updates(run_dir) == 50 + (200 - 50 - 1)
    assert load_checkpoint(run_dir / "checkpoint.pt")["replay"]["num_added"] == 200

    # --resume with a longer run continues step count, buffer, optimisers
    train.main(Config(run_dir=str(run_dir), resume=True, steps=260), progress=False)
    checkpoint = load_checkpoint(run_dir / "checkpoint.pt")
    assert checkpoint["step"] == 260 and checkpoint["replay"]["num_added"] == 260
    assert _critic_updates(run_dir) == 199 + 60
    record = json.loads((run_dir / "config.json").read_text())
    assert record["resumed"][0]["at_step"] == 200 and record["total_steps"] == 260
    assert [int(r["step"]) for r in _rows(run_dir / "eval.csv")][-2:] == [260, 260]

    rows = sgqn_eval.main(run_dir, modes="train,videohard", episodes=1, saliency=True)
    assert [r["mode"] for r in rows] == ["train", "videohard"]
    assert all(
        r["episodes"] == 1 and r["step"] == 260 and np.isfinite(r["return_mean"]) for r in rows
    )
    assert json.loads((run_dir / "eval_results.json").read_text())["results"] == rows
    assert (run_dir / "saliency" / "eval_step00000260.png").is_file()


def test_bad_flags_fail_before_any_work(tmp_path):
    with pytest.raises(train.ConfigError, match="--init-steps"):
        train.main(Config(**{**_TINY, "init_steps": 300}, steps=200, run_dir=str(tmp_path)))
    with pytest.raises(train.ConfigError, match="either --steps or --frames"):
        train.main(Config(**_TINY, steps=200, frames=800, run_dir=str(tmp_path)))
    with pytest.raises(UnknownTask, match="did you mean 'dmcgb/CartpoleBalance-train-v0'"):
        train.main(Config(**{**_TINY, "env": "dmcgb/CartpoleBalanse-train-v0"}, steps=200))
    with pytest.raises(UnknownTask, match="videohrad"):
        train.main(Config(**{**_TINY, "eval_modes": ("videohrad",)}, steps=200))
    with pytest.raises(train.ConfigError, match="--resume needs --run-dir"):
        train.main(Config(resume=True))
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train.main(Config(resume=True, run_dir=str(tmp_path)))
    assert not any(tmp_path.iterdir())


def test_missing_video_data_fails_before_training(tmp_path, monkeypatch):
    monkeypatch.setenv("DMCGB_DATA_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("DMCGB_OFFLINE", "1")
    run_dir = tmp_path / "run"
    with pytest.raises(MissingData, match="video_hard.*python -m dmcgb.data fetch video_hard"):
        train.main(Config(**_TINY, steps=200, run_dir=str(run_dir)), progress=False)
    assert not run_dir.exists()


def test_cli_reports_bad_flags_without_a_traceback(capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.cli(["--env", "dmcgb/WalkerWlak-train-v0", "--steps", "10", "--init-steps", "5"])
    assert exit_info.value.code == 2
    assert "did you mean 'dmcgb/WalkerWalk-train-v0'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train.cli(["--algo", "dqn"])


@pytest.mark.slow
def test_resumed_run_matches_the_uninterrupted_run(tmp_path, dmcgb_data):
    """Interrupted at an episode boundary and resumed, a run ends with the same weights.

    (``sac_consistency``: the overlay pool of the SSL algos refreshes from a background
    thread, which is not reproducible step for step.)
    """
    small = {**_TINY, "algo": "sac_consistency", "eval_modes": ("train",), "saliency_freq": 0}
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    train.main(Config(**small, steps=200, run_dir=str(straight)), progress=False)
    train.main(Config(**small, steps=125, run_dir=str(interrupted)), progress=False)
    train.main(Config(run_dir=str(interrupted), resume=True, steps=200), progress=False)
    a = load_checkpoint(straight / "checkpoint.pt")["agent"]
    b = load_checkpoint(interrupted / "checkpoint.pt")["agent"]
    for name in ("critic", "actor", "critic_target"):
        for key in a[name]:
            torch.testing.assert_close(a[name][key], b[name][key], rtol=0, atol=0)
    assert _rows(straight / "metrics.csv") != [] and [
        r["episode_return"] for r in _rows(straight / "metrics.csv")
    ] == [r["episode_return"] for r in _rows(interrupted / "metrics.csv")]
