"""Every algorithm learns: it beats a uniform random policy on easy pixel tasks on a CPU.

The pixel bandit (default run, every algo): one-step episodes showing a white square at a
horizontal position x in [-1, 1]; reward 1 - |a - x|. A uniformly random policy scores 1/3.
Each agent (small networks) trains offline on random actions and its mean action must score
well above chance.

The slow test's task is RobotReach (move the gripper over the red disc; dense reward -3 d per step, +1 on
the disc; 50-step episodes): a uniform random policy scores about -60. For speed on a CPU this
test alone uses a smaller encoder (6 conv layers of 16 filters), 64x64 images, hidden size 256
and batch 64; everything else is the paper's SG-SAC (all losses and update frequencies).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dmcgb.protocol.episodes import run_episodes
from dmcgb.protocol.mode_envs import EvalEnvs
from dmcgb.protocol.results import read_final
from sgqn import train
from sgqn.agent.algorithms import ALGOS
from sgqn.agent.factory import build_agent
from sgqn.agent.interfaces import Batch
from sgqn.config import Config
from tests.conftest import SEED
from tests.sgqn.agent.test_agent import GeneratedOverlay

_ENV = "dmcgb/RobotReach-train-v0"
_EPISODES = 10


class _UniformPolicy:
    """The baseline: uniform random actions in [-1, 1]."""

    def __init__(self, action_dim: int, seed: int) -> None:
        self.action_dim = action_dim
        self.rng = np.random.default_rng(seed)

    def __call__(self, stacks: np.ndarray) -> np.ndarray:
        """(N, k, H, W, 3) frame stacks -> (N, A) actions, as the evaluation calls a policy."""
        return self.rng.uniform(-1.0, 1.0, (len(stacks), self.action_dim)).astype(np.float32)


_BANDIT_SIZE = 32  # network input
_BANDIT_MARGIN = 6  # rad, soda: render 38, crop 32 (the paper: 100 -> 84)


def _square_at(x: torch.Tensor, size: int, side: int = 6) -> torch.Tensor:
    """(N, 9, size, size) uint8 frames with a white square centred at horizontal position x;
    the square's range of positions spans the central _BANDIT_SIZE pixels."""
    margin = (size - _BANDIT_SIZE) // 2
    left = margin + ((x + 1) / 2 * (_BANDIT_SIZE - side)).round().long()  # (N,)
    cols = torch.arange(size)
    in_cols = (cols >= left[:, None]) & (cols < left[:, None] + side)  # (N, W)
    rows = torch.zeros(size, dtype=torch.bool)
    rows[(size - side) // 2 : (size + side) // 2] = True
    square = rows[None, :, None] & in_cols[:, None, :]  # (N, H, W)
    return (square[:, None].expand(-1, 9, -1, -1) * 255).to(torch.uint8)


class _Transitions:
    """The bandit's random-action transitions as a replay buffer (SODA samples its own batch)."""

    def __init__(self, obs, action, reward, generator):
        self.obs, self.action, self.reward, self.generator = obs, action, reward, generator

    def sample(self, n: int) -> Batch:
        idx = torch.randint(0, len(self.obs), (n,), generator=self.generator)
        obs = self.obs[idx]
        return Batch(obs, self.action[idx], self.reward[idx, None], obs, torch.zeros(n, 1))


@pytest.mark.parametrize("algo", ALGOS)
def test_every_algo_learns_a_pixel_bandit(algo):
    g = torch.Generator().manual_seed(SEED)
    torch.manual_seed(SEED)
    cfg = Config(
        algo=algo,
        num_conv_layers=4,
        num_filters=8,
        projection_dim=16,
        hidden_dim=64,
        image_size=_BANDIT_SIZE,
        crop_margin=_BANDIT_MARGIN,
        soda_batch_size=64,
    )
    size = cfg.render_size
    agent = build_agent(cfg.obs_shape, (1,), cfg, "cpu", GeneratedOverlay(_BANDIT_SIZE))
    x = torch.rand(2000, generator=g) * 2 - 1
    action = torch.rand(2000, 1, generator=g) * 2 - 1
    replay = _Transitions(_square_at(x, size), action, 1 - (action[:, 0] - x).abs(), g)

    def score() -> float:
        x_test = torch.linspace(-1, 1, 101)
        mean_action = torch.as_tensor(agent.act(_square_at(x_test, size), sample=False))[:, 0]
        return (1 - (mean_action - x_test).abs()).mean().item()

    before = score()
    for step in range(1, 251):
        agent.update(replay.sample(32), step, replay)
    after = score()
    print(f"{algo}: pixel bandit score {before:.3f} -> {after:.3f} (uniform random: 0.333)")
    assert after > 0.8 and after > before + 0.2, (before, after)


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
    learned = read_final(run_dir).mode("train").summary()
    assert learned["step"] == 1000 and learned["episodes"] == _EPISODES

    envs = EvalEnvs({"train": _ENV}, SEED, action_repeat=1, image_size=64)
    try:  # the same evaluation episodes (seeds), acted by the random policy
        random_returns = run_episodes(_UniformPolicy(2, SEED), envs, _EPISODES, SEED)[
            "train"
        ].returns
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
