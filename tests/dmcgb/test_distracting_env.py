"""distractingcs envs: ids, arguments, true seeding, the change rate under action repeat, data.

Envs read a generated DAVIS folder (``davis_dir=``), or fetch a generated archive from a local
HTTP server through the data layer.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import dmcgb
from dmcgb.distracting import INTENSITIES, TRAIN_VIDEOS
from dmcgb.distracting import background as bg
from dmcgb.distracting.env import DistractingEnv
from dmcgb.env import DMCGBEnv
from dmcgb.errors import OfflineError, UnknownTask
from tests.conftest import SEED
from tests.dmcgb.davis_layout import publish_davis, write_davis
from tests.dmcgb.http_server import FileServer

_FRAMES = 5  # frames per generated sequence


@pytest.fixture(scope="module")
def davis(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All 60 train sequences (intensities 0.3 and up use every one)."""
    return write_davis(tmp_path_factory.mktemp("davis"), train=TRAIN_VIDEOS, frames=_FRAMES)


def _rollout(env: gym.Env, steps: int, **reset_kwargs) -> tuple[list[np.ndarray], list[dict]]:
    obs, info = env.reset(**reset_kwargs)
    frames, infos = [obs], [info]
    rng = np.random.default_rng(0)
    for _ in range(steps):
        action = rng.uniform(env.action_space.low, env.action_space.high).astype(np.float32)
        obs, _, _, _, info = env.step(action)
        frames.append(obs)
        infos.append(info)
    return frames, infos


# --- ids and arguments ----------------------------------------------------------------------


def test_ids_for_the_suite_tasks_and_the_eight_intensities():
    assert dmcgb.DISTRACTING_TASKS == (
        "BallInCupCatch",
        "CartpoleBalance",
        "CartpoleBalanceSparse",
        "CartpoleSwingup",
        "CartpoleSwingupSparse",
        "CheetahRun",
        "FingerSpin",
        "FingerTurnEasy",
        "FingerTurnHard",
        "ReacherEasy",
        "ReacherHard",
        "WalkerStand",
        "WalkerWalk",
        "WalkerRun",
    )
    ids = dmcgb.all_env_ids()
    for intensity in INTENSITIES:
        id_ = f"dmcgb/WalkerWalk-distractingcs{intensity:g}-v0"
        assert id_ in ids and id_ in gym.registry
        kwargs = gym.spec(id_).kwargs
        assert (kwargs["task"], kwargs["mode"]) == ("WalkerWalk", f"distractingcs{intensity:g}")
        assert kwargs.get("intensity", intensity) == intensity
    assert "dmcgb/WalkerWalk-distractingcs0.025-v0" in ids
    assert "dmcgb/CartpoleSwingup-distractingcs-v0" in ids
    assert not any(i.startswith("dmcgb/HopperHop-distracting") for i in ids)
    assert len([i for i in ids if "-distractingcs" in i]) == 14 * 9
    assert dmcgb.parse_env_id("dmcgb/FingerSpin-distractingcs0.15-v0") == (
        "FingerSpin",
        "distractingcs0.15",
    )
    with pytest.raises(UnknownTask, match="did you mean 'dmcgb/WalkerWalk-distractingcs0.1-v0'"):
        dmcgb.make("dmcgb/WalkerWalk-distractingcs0.11-v0")


def test_intensity_argument(davis):
    with pytest.raises(ValueError, match=r"needs an intensity: pass intensity=0.1 \(one of 0.025"):
        gym.make("dmcgb/WalkerWalk-distractingcs-v0", davis_dir=davis)
    env = gym.make("dmcgb/WalkerWalk-distractingcs-v0", intensity=0.15, davis_dir=davis)
    assert env.unwrapped.intensity == 0.15
    env.close()
    with pytest.raises(ValueError, match="has intensity 0.1, but intensity=0.2"):
        DistractingEnv("WalkerWalk", "distractingcs0.1", intensity=0.2)
    with pytest.raises(ValueError, match="expected a distracting_cs intensity"):
        DistractingEnv("WalkerWalk", "distractingcs", intensity=0.35)
    with pytest.raises(TypeError, match="intensity"):
        DMCGBEnv("WalkerWalk", "videohard", intensity=0.1)
    with pytest.raises(ValueError, match="expected a distractingcs mode"):
        DistractingEnv("WalkerWalk", "videohard", intensity=0.1)
    with pytest.raises(UnknownTask, match="defined for the domains .*not for 'HopperHop'"):
        DistractingEnv("HopperHop", "distractingcs0.1")


def test_env_checker(davis):
    env = gym.make("dmcgb/CartpoleSwingup-distractingcs0.1-v0", davis_dir=davis)
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(seed=SEED)
    assert obs in env.observation_space
    assert set(info) == {"video_index", "davis_video", "video_frame"}
    assert info["davis_video"] == TRAIN_VIDEOS[info["video_index"]]
    assert 0 <= info["video_index"] < 4  # intensity 0.1: the first 4 sequences
    env.close()


# --- seeding --------------------------------------------------------------------------------


def test_same_seed_same_distractions(davis):
    env = gym.make("dmcgb/WalkerWalk-distractingcs0.5-v0", davis_dir=davis)
    first, first_info = _rollout(env, 4, seed=SEED)
    _rollout(env, 2)  # another episode in between
    second, second_info = _rollout(env, 4, seed=SEED)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert first_info == second_info
    other, _ = _rollout(env, 0, seed=SEED + 1)
    assert np.abs(other[0].astype(int) - first[0]).mean() > 5
    env.close()

    fresh = gym.make("dmcgb/WalkerWalk-distractingcs0.5-v0", davis_dir=davis)
    again, _ = _rollout(fresh, 4, seed=SEED)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    fresh.close()


def _distraction_state(env: gym.Env) -> tuple:
    d = env.unwrapped._distractions
    c = d.camera
    return (c.radius, c.h, c.v, c.roll, *c.velocity, *d.colors.ravel(), *d.info().values())


def test_episode_option_reproduces_the_kth_episode(davis):
    # A fixed camera, so that nothing of the distractions depends on the task's initial state.
    env = gym.make("dmcgb/CartpoleSwingup-distractingcs0.2-v0", davis_dir=davis)
    env.reset(seed=SEED)
    states = [_distraction_state(env)]
    for _ in range(2):
        env.reset()
        states.append(_distraction_state(env))
    assert len(set(states)) == 3
    other = gym.make("dmcgb/CartpoleSwingup-distractingcs0.2-v0", davis_dir=davis)
    other.reset(seed=SEED, options={"episode": 1})
    assert _distraction_state(other) == states[1]
    other.reset()  # continues with episode 2
    assert _distraction_state(other) == states[2]
    other.reset(seed=SEED + 1, options={"episode": 2})
    assert _distraction_state(other) != states[2]
    with pytest.raises(ValueError, match=r"options\['episode'\] must be an int >= 0"):
        other.reset(options={"episode": -1})
    env.close()
    other.close()


# --- rendering and the change rate ------------------------------------------------------------


def test_the_video_shows_in_the_observation(tmp_path):
    red = write_davis(tmp_path / "red", train=TRAIN_VIDEOS[:4], color=(230, 20, 20))
    blue = write_davis(tmp_path / "blue", train=TRAIN_VIDEOS[:4], color=(20, 20, 230))
    means = []
    for folder in (red, blue):
        env = gym.make("dmcgb/CartpoleSwingup-distractingcs0.1-v0", davis_dir=folder)
        obs, _ = env.reset(seed=SEED)
        means.append(obs.reshape(-1, 3).mean(0))
        env.close()
    (red_r, _, red_b), (blue_r, _, blue_b) = means
    assert red_r - blue_r > 40 and blue_b - red_b > 40


def test_changes_every_second_control_step_under_action_repeat(davis):
    env = gym.make("dmcgb/WalkerWalk-distractingcs0.2-v0", davis_dir=davis, action_repeat=4)
    _, info = env.reset(seed=SEED)
    engine = env.unwrapped._distractions
    rng = np.random.default_rng(np.random.SeedSequence(SEED, spawn_key=(0, 2)))
    rng.integers(8), rng.integers(_FRAMES)  # the video and start frame, drawn first
    index, direction = info["video_frame"], int(rng.choice((-1, 1)))
    action = np.zeros(env.action_space.shape, np.float32)
    for step in range(1, 4):
        _, _, _, _, info = env.step(action)
        assert engine.control_steps == 4 * step
        for _ in range(2):  # 4 control steps: 2 changes
            index, direction = bg.next_frame(index, direction, _FRAMES)
        assert info["video_frame"] == index
    env.close()


def test_the_rendered_pose_is_the_distracted_one(davis):
    env = gym.make("dmcgb/WalkerWalk-distractingcs0.3-v0", davis_dir=davis, render_mode="rgb_array")
    env.reset(seed=SEED)
    env.step(np.zeros(env.action_space.shape, np.float32))
    env.step(np.zeros(env.action_space.shape, np.float32))
    frame = env.render()
    physics = env.unwrapped.physics
    position, orientation = env.unwrapped._distractions.pose
    np.testing.assert_array_equal(physics.data.cam_xpos[0], position)
    np.testing.assert_allclose(physics.data.cam_xmat[0], orientation.ravel())
    assert frame.shape == (480, 480, 3)
    env.close()


# --- DAVIS through the data layer -----------------------------------------------------------


def test_env_fetches_davis_through_the_data_layer(tmp_path, cache, monkeypatch):
    source = write_davis(tmp_path / "source", train=TRAIN_VIDEOS[:2], val=["bike-packing"])
    publish_davis(source, tmp_path / "mirror", monkeypatch)
    monkeypatch.setenv("DMCGB_OFFLINE", "1")
    env = gym.make("dmcgb/ReacherEasy-distractingcs0.05-v0")
    with pytest.raises(OfflineError, match="python -m dmcgb.data fetch davis"):
        env.reset(seed=SEED)
    env.close()
    monkeypatch.delenv("DMCGB_OFFLINE")
    with FileServer(tmp_path / "mirror") as server:
        monkeypatch.setenv("DMCGB_MIRROR", server.url)
        env = gym.make("dmcgb/ReacherEasy-distractingcs0.05-v0")
        _, info = env.reset(seed=SEED)
        assert info["davis_video"] in ("bear", "bmx-bumps")
        assert [path for path, _ in server.requests] == ["/davis/DAVIS-2017-trainval-480p.zip"]
        env.close()
