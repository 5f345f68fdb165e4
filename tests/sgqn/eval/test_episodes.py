"""The evaluation protocol: per-episode seeds, the benchmark's video sequence, robot successes,
colour draws, worker processes, and videos."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from sgqn.agent.factory import build_agent
from sgqn.agent.sac import SAC
from sgqn.config import Config
from sgqn.envs import make_env, to_chw
from sgqn.eval.episodes import EVAL, episode_seed, evaluate, evaluate_run
from sgqn.eval.mode_envs import EvalEnvs
from sgqn.eval.modes import check_modes
from tests.conftest import SEED

_AR = 25  # 40-step episodes
_IDS = {
    "train": "dmcgb/CartpoleBalance-train-v0",
    "videohard": "dmcgb/CartpoleBalance-videohard-v0",
}


def _agent(action_dim: int) -> SAC:
    torch.manual_seed(SEED)
    cfg = Config(algo="sac", num_conv_layers=2, num_filters=8, hidden_dim=32)
    return build_agent((9, 84, 84), (action_dim,), cfg, "cpu")


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
                obs, reward, terminated, truncated, info = env.step(
                    agent.act(to_chw(obs), sample=False)
                )
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
        first = evaluate(agent, envs, 2, SEED, video_dir=tmp_path, video_name="x_")["train"]
        again = evaluate(agent, envs, 2, SEED)["train"]
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
            _agent(1), envs, algo="sac", seed=SEED, step=7, action_repeat=_AR, episodes=4
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
        colors = evaluate(_agent(1), envs, 3, SEED)["coloreasy"].colors
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
            agent, envs, algo="sac", seed=SEED, step=3, action_repeat=1, episodes=1
        )
    finally:
        envs.close()
    for variant, env_id in ids.items():
        result = evaluation.mode(variant)
        expected = _run_alone(agent, env_id, variant, range(1), ar=1)
        # both variants step as one batch of 2: the forward pass differs in the last bits
        assert result.returns == pytest.approx([r for r, _ in expected], rel=1e-3)
        assert list(result.successes) == [bool(info["is_success"]) for _, info in expected]
        assert result.success_rate == np.mean(result.successes)
        assert result.summary()["success_rate"] == result.success_rate


def test_modes_are_checked_against_the_task():
    check_modes("dmcgb/RobotReach-train-v0", ["train", "test5"])
    with pytest.raises(ValueError, match="RobotReach has no mode 'videohard'.*test1"):
        check_modes("dmcgb/RobotReach-train-v0", ["train", "videohard"])
    with pytest.raises(
        ValueError,
        match="WalkerWalk has no mode 'videohrad' \\(did you mean 'videohard'\\?\\); its modes",
    ):
        check_modes("dmcgb/WalkerWalk-train-v0", ["videohrad"])
    with pytest.raises(
        ValueError, match="separate modes with spaces: --eval-modes train videohard\\)"
    ):
        check_modes("dmcgb/WalkerWalk-train-v0", ["train,videohard"])


@pytest.mark.slow
def test_worker_processes_run_the_same_episodes(dmcgb_data):
    agent = _agent(1)
    results = []
    for workers in (1, 2):
        envs = EvalEnvs(_IDS, SEED, action_repeat=_AR, workers=workers)
        try:
            results.append(evaluate(agent, envs, 3, SEED))
        finally:
            envs.close()
    sequential, parallel = results
    for mode in _IDS:
        # batched and single forward passes differ in the last float bits only
        np.testing.assert_allclose(parallel[mode].returns, sequential[mode].returns, rtol=1e-3)
        assert parallel[mode].videos == sequential[mode].videos
