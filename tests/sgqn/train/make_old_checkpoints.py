"""Old checkpoints, written by the code of revision f06a706 (before sgqn/ was split).

Run with f06a706's ``sgqn`` and ``dmcgb`` first on ``sys.path`` (``test_old_checkpoints.py``
extracts them from git history): writes a tiny checkpoint of ``sac``, ``svea_soda`` and
``sgqn`` (between them every part an agent saves: SAC's networks and optimisers, SODA's
projector/predictor/target, SVEA, SGQN's attribution head and the overlay stream's position)
after two updates on random transitions, and the mean actions each agent took on two random
observations (``expected.json``):

    PYTHONPATH=OLD_TREE python tests/sgqn/train/make_old_checkpoints.py DIR
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
from sgqn.checkpoint import save_checkpoint
from sgqn.replay import ReplayBuffer

from sgqn.agent import make_agent
from sgqn.config import Config, resolve

TINY = {"num_conv_layers": 11, "num_filters": 2, "hidden_dim": 16, "projection_dim": 8}


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    expected = {"algos": {}}
    for algo in ("sac", "svea_soda", "sgqn"):
        torch.manual_seed(0)
        np.random.seed(0)
        cfg = Config(
            env="dmcgb/WalkerWalk-train-v0", algo=algo, seed=3, batch_size=4, soda_batch_size=4,
            overlay_source="embedded", attribution_head="paper", **TINY,
        )  # fmt: skip
        cfg = resolve(cfg, "cpu-demo")
        agent = make_agent(cfg, (6,), "cpu")
        replay = ReplayBuffer(20, (3, cfg.render_size, cfg.render_size), 6, 3, "cpu")
        rng = np.random.default_rng(0)
        for t in range(10):
            obs = rng.integers(0, 256, cfg.obs_shape, dtype=np.uint8)
            next_obs = rng.integers(0, 256, cfg.obs_shape, dtype=np.uint8)
            replay.add(obs, rng.uniform(-1, 1, 6), float(t), next_obs, False, t == 9)
        for step in range(2):
            agent.update(replay.sample(4), step, replay)
        run = out / algo
        run.mkdir(exist_ok=True)
        save_checkpoint(
            run / "checkpoint.pt", agent=agent, cfg=agent.cfg, step=2, episode=0, updates=2,
            replay=replay.state(), action_shape=[6],
        )  # fmt: skip
        agent.close()
        obs = np.random.default_rng(1).integers(0, 256, (2, *cfg.obs_shape), dtype=np.uint8)
        expected["algos"][algo] = {"mean_action": agent.act(obs, sample=False).tolist()}
    (out / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
