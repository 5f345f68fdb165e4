"""Figure 5: several runs' saliency maps on the same frames, whatever size each run renders."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from sgqn import compare_saliency
from sgqn.agent.factory import build_agent
from sgqn.config import Config
from sgqn.train.checkpoint import save_checkpoint
from tests.conftest import SEED

_ENV = "dmcgb/CartpoleSwingup-train-v0"
_TINY = dict(
    env=_ENV,
    action_repeat=8,
    num_conv_layers=3,
    num_filters=8,
    projection_dim=16,
    hidden_dim=32,
    image_size=48,
    crop_margin=8,
)


def _run(tmp_path, algo: str, seed: int):
    """A run directory holding an (untrained) agent's checkpoint."""
    cfg = Config(algo=algo, seed=seed, **_TINY)
    torch.manual_seed(seed)
    agent = build_agent(cfg.obs_shape, (1,), cfg, "cpu")
    run = tmp_path / f"{algo}-s{seed}"
    save_checkpoint(run / "checkpoint.pt", agent=agent, cfg=cfg, step=7, action_shape=[1])
    return run


def _shrink(frame: np.ndarray, size: int) -> np.ndarray:
    image = Image.fromarray(frame[-3:].transpose(1, 2, 0))
    return np.asarray(image.resize((size, size), Image.BILINEAR), dtype=np.float32)


def test_frames_at_other_sizes_show_the_same_states(dmcgb_data):
    rng = np.random.default_rng(SEED)
    policy = lambda obs: rng.uniform(-1, 1, 1).astype(np.float32)  # noqa: E731
    args = (_ENV.replace("train", "videohard"), [48, 56], 3, 8)
    frames = compare_saliency.same_state_frames(*args, seed=5, at=[3, 9], policy=policy)
    assert [f.shape for f in frames[48]] == [(9, 48, 48)] * 2
    assert [f.shape for f in frames[56]] == [(9, 56, 56)] * 2
    # the 56-pixel frames, shrunk, look like the 48-pixel frames of the same step, not the other
    small = [_shrink(f, 48) for f in frames[56]]
    reference = [f[-3:].transpose(1, 2, 0).astype(np.float32) for f in frames[48]]
    same = [np.abs(s - r).mean() for s, r in zip(small, reference, strict=True)]
    other = [np.abs(small[0] - reference[1]).mean(), np.abs(small[1] - reference[0]).mean()]
    assert max(same) < 0.5 * min(other), (same, other)
    robot = ("dmcgb/RobotReach-train-v0", [48], 3, 4)  # 13-step episodes
    with pytest.raises(ValueError, match="episode ended at agent step 13; pick --steps below 13"):
        compare_saliency.same_state_frames(*robot, seed=5, at=[20], policy=lambda o: np.zeros(2))


def test_comparison_figure_of_three_runs(tmp_path, dmcgb_data, capsys):
    runs = [_run(tmp_path, "sac", 1), _run(tmp_path, "rad", 1), _run(tmp_path, "sgqn", 2)]
    out = tmp_path / "figure5.png"
    argv = [*map(str, runs), "--mode", "videohard", "--steps", "2", "6", "--out", str(out)]
    compare_saliency.cli(argv)
    assert str(out) in capsys.readouterr().out
    with Image.open(out) as image:
        width, height = image.size
    assert width > 3 * height / 2  # 3 rows (runs) x 6 panels (2 frames x 3 maps)
    with pytest.raises(SystemExit):
        other = Config(algo="sac", **{**_TINY, "env": "dmcgb/CartpoleBalance-train-v0"})
        agent = build_agent(other.obs_shape, (1,), other, "cpu")
        save_checkpoint(
            tmp_path / "o" / "checkpoint.pt", agent=agent, cfg=other, step=0, action_shape=[1]
        )
        compare_saliency.cli([str(runs[0]), str(tmp_path / "o")])
    assert "compare runs of one task" in capsys.readouterr().err
