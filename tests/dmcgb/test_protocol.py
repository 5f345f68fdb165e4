"""The evaluation protocol (``dmcgb.protocol``): per-episode seeds, the benchmark's video
sequence, robot successes, colour draws, worker processes, and videos, with a scripted policy
(no torch)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from dmcgb.errors import UnknownTask
from dmcgb.protocol.envs import make_env
from dmcgb.protocol.episodes import EVAL, episode_seed, evaluate_run, run_episodes
from dmcgb.protocol.mode_envs import EvalEnvs
from dmcgb.protocol.modes import check_modes
from tests.conftest import SEED

_AR = 25  # 40-step episodes
_IDS = {
    "train": "dmcgb/CartpoleBalance-train-v0",
    "videohard": "dmcgb/CartpoleBalance-videohard-v0",
}


class _Scripted:
    """A deterministic policy whose actions depend on what it sees (so returns differ from
    episode to episode): one observation (k, H, W, 3) -> (A,), or a batch through ``act``."""

    def __init__(self, action_dim: int) -> None:
        self.weights = np.random.default_rng(SEED).normal(size=(3, action_dim))

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        colour = obs[-1].reshape(-1, 3).mean(axis=0) / 255.0 - 0.5  # newest frame's mean RGB
        return np.tanh(4.0 * colour @ self.weights).astype(np.float32)

    def act(self, batch: np.ndarray) -> np.ndarray:
        return np.stack([self(obs) for obs in batch])


def _agent(action_dim: int) -> _Scripted:
    return _Scripted(action_dim)


def _run_alone(agent, env_id: str, mode: str, episodes, ar: int = _AR) -> list[tuple[float, dict]]:
    """These episodes of a mode, run by hand, each from its own seed, in a new env, in the
    reverse order: [(return, info at its end)] in episode order."""
    env = make_env(env_id, SEED, action_repeat=ar)
    results = {}
    try:
        for i in sorted(episodes, reverse=True):
            obs, _ = env.reset(seed=episode_seed(SEED, EVAL, mode, i), options={"episode": i})
            total, done = 0.0, False
            while not done:
                obs, reward, terminated, truncated, info = env.step(agent(obs))
                total += float(reward)
                done = terminated or truncated
            results[i] = (total, info)
        return [results[i] for i in sorted(results)]
    finally:
        env.close()


def test_episode_seeds_are_stable_and_distinct():
    assert episode_seed(1, 1, "train", 0) == episode_seed(1, 1, "train", 0)
    seeds = {
        episode_seed(1, s, m, i) for s in (0, 1) for m in ("train", "videohard") for i in range(5)
    }
    assert len(seeds) == 20


def test_every_episode_is_reproducible_alone_and_videos_are_written(tmp_path):
    agent = _agent(1)
    envs = EvalEnvs({"train": _IDS["train"]}, SEED, action_repeat=_AR)
    try:
        first = run_episodes(agent.act, envs, 2, SEED, video_dir=tmp_path, video_name="x_")["train"]
        again = run_episodes(agent.act, envs, 2, SEED)["train"]
    finally:
        envs.close()
    assert first.returns == again.returns and first.returns[0] != first.returns[1]
    alone = _run_alone(agent, _IDS["train"], "train", range(2))
    assert first.returns == pytest.approx([r for r, _ in alone])
    assert first.successes is None and first.videos is None and first.colors is None
    assert (tmp_path / "x_train.mp4").stat().st_size > 1000


def _benchmark_videos(env_id: str, episodes: int) -> list[int]:
    """The benchmark's protocol: one env, seeded once, reset again and again."""
    env = gym.make(env_id)
    try:
        videos = [env.reset(seed=SEED)[1]["video_index"]]
        videos += [env.reset()[1]["video_index"] for _ in range(episodes - 1)]
        return videos
    finally:
        env.close()


def test_video_episodes_show_the_benchmarks_video_sequence(dmcgb_data):
    envs = EvalEnvs({"videohard": _IDS["videohard"]}, SEED, action_repeat=_AR)
    try:
        evaluation = evaluate_run(
            _agent(1).act, envs, algo="sac", seed=SEED, step=7, action_repeat=_AR, episodes=4
        )
    finally:
        envs.close()
    videos = evaluation.mode("videohard").videos
    assert list(videos) == _benchmark_videos(_IDS["videohard"], 4)
    assert len(set(videos)) == 4  # four episodes, four backgrounds


def test_colour_episodes_record_the_setting_each_drew(dmcgb_data):
    env_id = "dmcgb/CartpoleBalance-coloreasy-v0"
    envs = EvalEnvs({"coloreasy": env_id}, SEED, action_repeat=_AR)
    try:
        colors = run_episodes(_agent(1).act, envs, 3, SEED)["coloreasy"].colors
    finally:
        envs.close()
    env = gym.make(env_id)
    try:
        expected = [
            env.reset(seed=episode_seed(SEED, EVAL, "coloreasy", i))[1]["color_index"]
            for i in range(3)
        ]
    finally:
        env.close()
    assert colors == expected


def test_robot_evaluation_records_success_per_variant():
    ids = {v: f"dmcgb/RobotReach-{v}-v0" for v in ("train", "test2")}
    agent = _agent(2)
    envs = EvalEnvs(ids, SEED, action_repeat=1)
    try:
        evaluation = evaluate_run(
            agent.act, envs, algo="sac", seed=SEED, step=3, action_repeat=1, episodes=1
        )
    finally:
        envs.close()
    for variant, env_id in ids.items():
        result = evaluation.mode(variant)
        expected = _run_alone(agent, env_id, variant, range(1), ar=1)
        assert result.returns == pytest.approx([r for r, _ in expected], rel=1e-12)
        assert list(result.successes) == [bool(info["is_success"]) for _, info in expected]
        assert result.success_rate == np.mean(result.successes)
        assert result.summary()["success_rate"] == result.success_rate


def test_modes_are_checked_against_the_task():
    check_modes("dmcgb/RobotReach-train-v0", ["train", "test5"])
    with pytest.raises(UnknownTask, match="RobotReach has no mode 'videohard'.*test1"):
        check_modes("dmcgb/RobotReach-train-v0", ["train", "videohard"])
    with pytest.raises(
        ValueError,
        match="WalkerWalk has no mode 'videohrad' \\(did you mean 'videohard'\\?\\); its modes",
    ):
        check_modes("dmcgb/WalkerWalk-train-v0", ["videohrad"])
    with pytest.raises(
        ValueError, match="separate modes with spaces: --eval-modes train videohard\\)"
    ):
        check_modes("dmcgb/WalkerWalk-train-v0", ["train,videohard"], flag="--eval-modes")


@pytest.mark.slow
def test_worker_processes_run_the_same_episodes(dmcgb_data):
    agent = _agent(1)
    results = []
    for workers in (1, 2):
        envs = EvalEnvs(_IDS, SEED, action_repeat=_AR, workers=workers)
        try:
            results.append(run_episodes(agent.act, envs, 3, SEED))
        finally:
            envs.close()
    sequential, parallel = results
    for mode in _IDS:
        assert parallel[mode].returns == sequential[mode].returns
        assert parallel[mode].videos == sequential[mode].videos


def test_geometric_episodes_show_the_run_seeds_order_of_camera_positions():
    """Evaluation seeds every episode; the camera order stays the run seed's, so episode i shows
    the i-th position of that order whatever the episode's own seed (as videos follow i)."""
    env_id = "dmcgb/CartpoleBalance-rotatehard-v0"
    envs = EvalEnvs({"rotatehard": env_id}, SEED, action_repeat=_AR)
    try:
        env = envs.single("rotatehard")
        shown = [
            env.reset(seed=episode_seed(SEED, EVAL, "rotatehard", i), options={"episode": i})[1][
                "camera_position"
            ]
            for i in range(5)
        ]
    finally:
        envs.close()
    assert shown == list(np.random.RandomState(SEED).permutation(100)[:5])
