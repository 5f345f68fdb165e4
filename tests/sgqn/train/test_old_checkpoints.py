"""Checkpoints written before sgqn/ was split into sub-packages (revision f06a706) still load.

The files in ``checkpoints_f06a706/`` were written by that revision's code
(``make_checkpoints.py`` there); ``expected.json`` holds the mean actions its agents took.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sgqn import eval as sgqn_eval
from sgqn.train.checkpoint import load_checkpoint
from sgqn.train.loop import make_agent

OLD = Path(__file__).parent / "checkpoints_f06a706"
EXPECTED = json.loads((OLD / "expected.json").read_text())


@pytest.mark.parametrize("algo", sorted(EXPECTED["algos"]))
def test_an_old_checkpoint_acts_as_it_did(algo: str) -> None:
    agent, cfg, step = sgqn_eval.load_agent(OLD / algo, "cpu")
    assert (cfg.algo, step) == (algo, 2)
    obs = np.random.default_rng(1).integers(0, 256, (2, *cfg.obs_shape), dtype=np.uint8)
    expected = np.array(EXPECTED["algos"][algo]["mean_action"], dtype=np.float32)
    np.testing.assert_allclose(agent.act(obs, sample=False), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("algo", sorted(EXPECTED["algos"]))
def test_an_old_checkpoint_restores_a_training_agent_whole(algo: str) -> None:
    """Every part a resumed run needs (networks, optimisers, counters) loads, value for value."""
    checkpoint = load_checkpoint(OLD / algo / "checkpoint.pt")
    cfg = sgqn_eval.load_agent(OLD / algo, "cpu")[1]
    agent = make_agent(cfg, tuple(checkpoint["action_shape"]), "cpu")
    try:
        agent.load_state_dict(checkpoint["agent"])
        _assert_same(agent.state_dict(), checkpoint["agent"])
    finally:
        agent.close()


def _assert_same(ours, saved, where: str = "agent") -> None:
    if isinstance(saved, dict):
        assert set(ours) == set(saved), where
        for key in saved:
            _assert_same(ours[key], saved[key], f"{where}[{key!r}]")
    elif isinstance(saved, torch.Tensor):
        assert torch.equal(ours, saved), where
    elif isinstance(saved, (list, tuple)):
        assert len(ours) == len(saved), where
        for i, (a, b) in enumerate(zip(ours, saved, strict=True)):
            _assert_same(a, b, f"{where}[{i}]")
    else:
        assert ours == saved, where
