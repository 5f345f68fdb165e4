"""ActionRepeat and Gymnasium's frame stacking on dmcgb envs, and vector envs."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.wrappers import FrameStackObservation

import dmcgb
from dmcgb.env import DMCGBEnv
from dmcgb.wrappers import ActionRepeat
from tests.conftest import SEED


class CountRenders(gym.Wrapper):
    """Counts the base env's renders by watching its camera calls."""

    def __init__(self, env):
        super().__init__(env)
        self.renders = 0
        base = env.unwrapped
        real = base._render

        def counted(size):
            self.renders += 1
            return real(size)

        base._render = counted


def test_repeat_sums_rewards_and_renders_once_per_agent_step():
    repeated = CountRenders(DMCGBEnv("CartpoleSwingup"))
    wrapped = ActionRepeat(repeated, repeat=4)
    plain = DMCGBEnv("CartpoleSwingup")
    wrapped.reset(seed=SEED)
    plain.reset(seed=SEED)
    repeated.renders = 0
    rng = np.random.default_rng(SEED)
    for _ in range(5):
        action = rng.uniform(-1, 1, wrapped.action_space.shape).astype(np.float32)
        obs, reward, terminated, truncated, info = wrapped.step(action)
        expected = 0.0
        for _ in range(4):
            plain_obs, r, *_ = plain.step(action)
            expected += r
        assert reward == pytest.approx(expected, abs=1e-12)
        np.testing.assert_array_equal(obs, plain_obs)
        assert info["control_steps"] == 4
    assert repeated.renders == 5


def test_repeat_stops_at_truncation_and_renders_that_step():
    env = ActionRepeat(DMCGBEnv("CartpoleBalance"), repeat=3)
    env.reset(seed=SEED)
    action = np.zeros(env.action_space.shape, np.float32)
    steps = 0
    truncated = False
    while not truncated:
        obs, _, terminated, truncated, info = env.step(action)
        steps += info["control_steps"]
        assert not terminated
    assert steps == 1000 and info["control_steps"] == 1000 % 3
    np.testing.assert_array_equal(obs, env.unwrapped.physics.render(84, 84, camera_id=0))


def test_video_background_advances_once_per_agent_step(dmcgb_data):
    env = ActionRepeat(dmcgb.make("dmcgb/WalkerWalk-videohard-v0"), repeat=4)
    env.reset(seed=SEED)
    for step in range(1, 4):
        _, _, _, _, info = env.step(env.action_space.sample())
        assert info["video_frame"] == step


def test_repeat_checks_its_argument():
    with pytest.raises(ValueError, match="repeat to be an int >= 1"):
        ActionRepeat(DMCGBEnv("CartpoleSwingup"), repeat=0)


def test_frame_stack_of_repeated_env():
    env = FrameStackObservation(ActionRepeat(dmcgb.make("dmcgb/FingerSpin-train-v0"), 2), 3)
    obs, _ = env.reset(seed=SEED)
    assert obs.shape == (3, 84, 84, 3) and obs.dtype == np.uint8
    obs2, *_ = env.step(env.action_space.sample())
    np.testing.assert_array_equal(obs2[1], obs[2])


def _make_video_env():
    return ActionRepeat(gym.make("dmcgb/WalkerWalk-videohard-v0"), 4)


@pytest.mark.parametrize(
    "vector_env",
    [
        lambda fns: gym.vector.SyncVectorEnv(fns),
        # This process already holds GL contexts, which forked workers cannot use: spawn.
        lambda fns: gym.vector.AsyncVectorEnv(fns, context="spawn"),
    ],
    ids=["sync", "async-spawn"],
)
def test_vector_envs(vector_env, dmcgb_data):
    envs = vector_env([_make_video_env, _make_video_env])
    obs, info = envs.reset(seed=[SEED, SEED])
    assert obs.shape == (2, 84, 84, 3)
    np.testing.assert_array_equal(obs[0], obs[1])
    obs, reward, terminated, truncated, info = envs.step(envs.action_space.sample())
    assert obs.shape == (2, 84, 84, 3) and reward.shape == (2,)
    envs.close()


def test_default_async_vector_env_in_a_fresh_process(dmcgb_data):
    """Gymnasium forks workers by default; envs make no GL context until they render."""
    code = (
        "import gymnasium as gym, dmcgb\n"
        "envs = gym.vector.AsyncVectorEnv([lambda: gym.make('dmcgb/CartpoleSwingup-colorhard-v0')] * 2)\n"
        "obs, _ = envs.reset(seed=1)\n"
        "obs, *_ = envs.step(envs.action_space.sample())\n"
        "assert obs.shape == (2, 84, 84, 3), obs.shape\n"
        "envs.close()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
