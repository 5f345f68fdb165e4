"""Evaluation episodes: fixed seeds, in-process or in worker processes, videos."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sgqn.agent import SGSAC
from sgqn.config import Config
from sgqn.evaluation import EvalEnvs, episode_seed, evaluate
from tests.conftest import SEED

_IDS = {
    "train": "dmcgb/CartpoleBalance-train-v0",
    "videohard": "dmcgb/CartpoleBalance-videohard-v0",
}


@pytest.fixture
def agent():
    torch.manual_seed(SEED)
    cfg = Config(algo="sac", num_conv_layers=2, num_filters=8, hidden_dim=32)
    return SGSAC((9, 84, 84), (1,), cfg, "cpu")


def test_episode_seeds_are_stable_and_distinct():
    assert episode_seed(1, 1, "train", 0) == episode_seed(1, 1, "train", 0)
    seeds = {
        episode_seed(1, s, m, i) for s in (0, 1) for m in ("train", "videohard") for i in range(5)
    }
    assert len(seeds) == 20


def test_evaluation_repeats_the_same_episodes_and_writes_videos(agent, tmp_path):
    envs = EvalEnvs({"train": _IDS["train"]}, SEED, action_repeat=8)
    try:
        first = evaluate(agent, envs, 2, SEED, video_dir=tmp_path, video_name="x_")
        again = evaluate(agent, envs, 2, SEED)
    finally:
        envs.close()
    assert first == again and len(first["train"]) == 2 and np.all(np.isfinite(first["train"]))
    assert first["train"][0] != first["train"][1]  # different initial states
    assert (tmp_path / "x_train.mp4").stat().st_size > 1000


@pytest.mark.slow
def test_worker_processes_run_the_same_episodes(agent, dmcgb_data):
    results = []
    for workers in (1, 2):
        envs = EvalEnvs(_IDS, SEED, action_repeat=8, workers=workers)
        try:
            results.append(evaluate(agent, envs, 3, SEED))
        finally:
            envs.close()
    sequential, parallel = results
    for mode in _IDS:
        # batched and single forward passes differ in the last float bits only
        np.testing.assert_allclose(parallel[mode], sequential[mode], rtol=1e-3)
