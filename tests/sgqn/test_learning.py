"""SG-SAC learns: on an easy pixel task it beats a uniform random policy within minutes on CPU.

The task is RobotReach (move the gripper over the red disc; dense reward -3 d per step, +1 on
the disc; 50-step episodes): a uniform random policy scores about -60. For speed on a CPU this
test alone uses a smaller encoder (6 conv layers of 16 filters), 64x64 images, hidden size 256
and batch 64; everything else is the paper's SG-SAC (all losses and update frequencies).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from sgqn import train
from sgqn.config import Config
from sgqn.evaluation import EvalEnvs, evaluate
from tests.conftest import SEED

_ENV = "dmcgb/RobotReach-train-v0"
_EPISODES = 10


class _UniformPolicy:
    """The baseline: uniform random actions in [-1, 1]."""

    def __init__(self, action_dim: int, seed: int) -> None:
        self.action_dim = action_dim
        self.rng = np.random.default_rng(seed)

    def act(self, obs: np.ndarray, sample: bool) -> np.ndarray:
        shape = (obs.shape[0], self.action_dim) if obs.ndim == 4 else (self.action_dim,)
        return self.rng.uniform(-1.0, 1.0, shape).astype(np.float32)


@pytest.mark.slow
def test_sgqn_beats_random_on_robot_reach(tmp_path):
    cfg = Config(
        env=_ENV,
        algo="sgqn",
        seed=SEED,
        steps=1000,
        init_steps=250,
        action_repeat=1,
        image_size=64,
        num_conv_layers=6,
        num_filters=16,
        hidden_dim=256,
        batch_size=64,
        eval_freq=1000,
        eval_episodes=_EPISODES,
        eval_modes=("train",),
        saliency_freq=0,
        overlay_source="embedded",
        run_dir=str(tmp_path / "run"),
    )
    run_dir = train.main(cfg, progress=False, eval_workers=1)
    learned = json.loads((run_dir / "results.json").read_text())["results"][0]
    assert learned["step"] == 1000 and learned["episodes"] == _EPISODES

    envs = EvalEnvs({"train": _ENV}, SEED, action_repeat=1, image_size=64)
    try:  # the same evaluation episodes (seeds), acted by the random policy
        random_returns = evaluate(_UniformPolicy(2, SEED), envs, _EPISODES, SEED)["train"]
    finally:
        envs.close()
    random_mean = float(np.mean(random_returns))
    print(
        f"RobotReach return after 1000 steps: {learned['return_mean']:.1f} "
        f"+- {learned['return_std']:.1f}; uniform random policy: {random_mean:.1f} "
        f"+- {np.std(random_returns):.1f}"
    )
    assert random_mean < -40  # the baseline is what the task says it is
    assert learned["return_mean"] > random_mean + 15
