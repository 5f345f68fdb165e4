"""Checkpoints written before sgqn/ was split into sub-packages (revision f06a706) still load.

They are written here by that revision's own code, taken from git history
(``make_old_checkpoints.py`` run on it), with the mean actions its agents took.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
import torch

from sgqn import eval as sgqn_eval
from sgqn.train.checkpoint import load_checkpoint
from sgqn.train.loop import make_agent

REVISION = "f06a706"
ALGOS = ("sac", "sgqn", "svea_soda")
_REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def old(tmp_path_factory) -> Path:
    """A folder of checkpoints written by revision f06a706, and its ``expected.json``."""
    archive = subprocess.run(
        ["git", "-C", str(_REPO), "archive", REVISION, "sgqn", "dmcgb"], capture_output=True
    )
    if archive.returncode != 0:
        pytest.skip(f"needs the git history with revision {REVISION}: {archive.stderr!r}")
    tree = tmp_path_factory.mktemp("f06a706")
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(tree, filter="data")
    out = tree / "checkpoints"
    script = Path(__file__).with_name("make_old_checkpoints.py")
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, str(script), str(out)], cwd=tree, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def _expected(old: Path, algo: str) -> np.ndarray:
    expected = json.loads((old / "expected.json").read_text())["algos"][algo]["mean_action"]
    return np.array(expected, dtype=np.float32)


@pytest.mark.parametrize("algo", ALGOS)
def test_an_old_checkpoint_acts_as_it_did(old: Path, algo: str) -> None:
    agent, cfg, step = sgqn_eval.load_agent(old / algo, "cpu")
    assert (cfg.algo, step) == (algo, 2)
    obs = np.random.default_rng(1).integers(0, 256, (2, *cfg.obs_shape), dtype=np.uint8)
    np.testing.assert_allclose(
        agent.act(obs, sample=False), _expected(old, algo), rtol=0, atol=1e-6
    )


@pytest.mark.parametrize("algo", ALGOS)
def test_an_old_checkpoint_restores_a_training_agent_whole(old: Path, algo: str) -> None:
    """Every part a resumed run needs (networks, optimisers, counters) loads, value for value."""
    checkpoint = load_checkpoint(old / algo / "checkpoint.pt")
    cfg = sgqn_eval.load_agent(old / algo, "cpu")[1]
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
