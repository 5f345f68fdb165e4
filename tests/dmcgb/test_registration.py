"""The id table: every benchmarking task in every mode, and clear errors for the rest."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import pytest

import dmcgb
from dmcgb.errors import UnknownTask
from dmcgb.modes import EPISODE_LENGTH, IMAGE_SIZE
from dmcgb.scene import COLOR_KEYS
from dmcgb.tasks import camera_id, task_name


def test_tasks_are_dm_control_benchmarking():
    from dmcgb.rendering import ensure_gl_backend

    ensure_gl_backend()  # dm_control picks its GL backend on import
    from dm_control import suite

    assert {(t.domain, t.task) for t in dmcgb.TASKS.values()} == set(suite.BENCHMARKING)


def test_paper_tasks_and_names():
    assert dmcgb.PAPER_TASKS == (
        "WalkerWalk",
        "WalkerStand",
        "BallInCupCatch",
        "CartpoleSwingup",
        "FingerSpin",
    )
    assert task_name("ball_in_cup", "catch") == "BallInCupCatch"
    assert task_name("point_mass", "easy") == "PointMassEasy"
    assert set(dmcgb.PAPER_TASKS) <= set(dmcgb.TASKS)


def test_modes_and_cameras():
    assert list(dmcgb.MODES) == ["train", "coloreasy", "colorhard", "videoeasy", "videohard"]
    assert dmcgb.MODES["videoeasy"].videos == 10
    assert dmcgb.MODES["videohard"].videos == 100
    assert camera_id("walker") == 0 and camera_id("quadruped") == 2
    assert IMAGE_SIZE == 84 and EPISODE_LENGTH == 1000
    assert COLOR_KEYS == ("grid_rgb1", "grid_rgb2", "self_rgb", "skybox_rgb")
    assert [m.benchmark_name for m in dmcgb.MODES.values()] == [
        "train", "color_easy", "color_hard", "video_easy", "video_hard"
    ]


def test_every_id_is_registered():
    ids = dmcgb.all_env_ids()
    assert len(ids) == len(dmcgb.TASKS) * 5 + 2 * 6
    for id_ in ids:
        assert id_ in gym.registry
    assert "dmcgb/WalkerWalk-videohard-v0" in ids
    assert "dmcgb/RobotPegInBox-test5-v0" in ids
    assert gym.spec("dmcgb/WalkerWalk-train-v0").max_episode_steps == 1000
    assert gym.spec("dmcgb/RobotReach-train-v0").max_episode_steps == 50


def test_parse_env_id_round_trip():
    assert dmcgb.parse_env_id("dmcgb/CheetahRun-colorhard-v0") == ("CheetahRun", "colorhard")
    assert dmcgb.env_id("CheetahRun", "colorhard") == "dmcgb/CheetahRun-colorhard-v0"


@pytest.mark.parametrize(
    "bad, suggestion",
    [
        ("dmcgb/WalkerWlak-train-v0", "dmcgb/WalkerWalk-train-v0"),
        ("dmcgb/WalkerWalk-video_hard-v0", "dmcgb/WalkerWalk-videohard-v0"),
        ("dmcgb/WalkerWalk-train-v1", "dmcgb/WalkerWalk-train-v0"),
    ],
)
def test_unknown_id_suggests_and_lists(bad: str, suggestion: str):
    with pytest.raises(UnknownTask) as error:
        dmcgb.make(bad)
    message = str(error.value)
    assert repr(suggestion) in message
    assert "WalkerStand" in message and "videoeasy" in message


def test_unknown_task_or_mode_in_constructor():
    from dmcgb.env import DMCGBEnv

    with pytest.raises(UnknownTask, match="unknown mode 'video_hard'"):
        DMCGBEnv("WalkerWalk", "video_hard")
    with pytest.raises(UnknownTask, match="unknown task"):
        DMCGBEnv("WalkerJog")


def test_module_prefix_make_needs_no_import():
    code = (
        "import gymnasium as gym\n"
        "env = gym.make('dmcgb:dmcgb/CartpoleSwingup-train-v0')\n"
        "obs, _ = env.reset(seed=0)\n"
        "assert obs.shape == (84, 84, 3), obs.shape\n"
        "import sys; assert 'dmcgb' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
