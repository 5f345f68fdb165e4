"""ActionRepeat (for envs other than dmcgb's), frame stacking of dmcgb envs, vector envs."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.wrappers import FrameStackObservation

import dmcgb
from dmcgb.env import DMCGBEnv
from dmcgb.wrappers import ActionRepeat
from tests.conftest import SEED


def test_repeat_sums_rewards_of_any_env():
    wrapped = ActionRepeat(gym.make("Pendulum-v1"), repeat=3)
    plain = gym.make("Pendulum-v1")
    wrapped.reset(seed=SEED)
    plain.reset(seed=SEED)
    rng = np.random.default_rng(SEED)
    for _ in range(4):
        action = rng.uniform(-2, 2, (1,)).astype(np.float32)
        obs, reward, _, _, info = wrapped.step(action)
        expected = 0.0
        for _ in range(3):
            plain_obs, r, *_ = plain.step(action)
            expected += r
        assert reward == pytest.approx(expected, abs=1e-9)
        np.testing.assert_array_equal(obs, plain_obs)
        assert info["inner_steps"] == 3


def test_repeat_stops_at_the_inner_truncation():
    env = ActionRepeat(gym.make("Pendulum-v1", max_episode_steps=10), repeat=4)
    env.reset(seed=SEED)
    steps = []
    truncated = False
    while not truncated:
        *_, truncated, info = env.step(np.zeros(1, np.float32))
        steps.append(info["inner_steps"])
    assert steps == [4, 4, 2]


def test_repeat_checks_its_argument_and_refuses_dmcgb_envs():
    with pytest.raises(ValueError, match="repeat to be an int >= 1"):
        ActionRepeat(gym.make("Pendulum-v1"), repeat=0)
    with pytest.raises(ValueError, match=r"gymnasium.make\(id, action_repeat=4\)"):
        ActionRepeat(dmcgb.make("dmcgb/CartpoleSwingup-train-v0"), repeat=4)


def test_frame_stack_of_a_repeating_env():
    env = FrameStackObservation(dmcgb.make("dmcgb/FingerSpin-train-v0", action_repeat=2), 3)
    obs, _ = env.reset(seed=SEED)
    assert obs.shape == (3, 84, 84, 3) and obs.dtype == np.uint8
    obs2, *_ = env.step(env.action_space.sample())
    np.testing.assert_array_equal(obs2[1], obs[2])


def _make_video_env():
    return gym.make("dmcgb/WalkerWalk-videohard-v0", action_repeat=4)


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


def test_vector_env_sub_envs_get_their_own_episode(dmcgb_data):
    """Contract 2: options are broadcast, so per-env episodes go through each env's reset."""
    envs = gym.vector.SyncVectorEnv([_make_video_env, _make_video_env])
    infos = [
        env.reset(seed=SEED, options={"episode": k})[1]["video_index"]
        for k, env in zip((4, 9), envs.envs, strict=True)
    ]
    assert infos == [5, 10]
    assert isinstance(envs.envs[0].unwrapped, DMCGBEnv)
    envs.close()
