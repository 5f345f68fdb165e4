"""Every --algo end to end on the CPU preset: trains, evaluates with saliency maps, resumes exactly.

Tiny networks and few steps. On the robot task (RobotReach, action repeat 4: 13-step
episodes) a run interrupted at an episode boundary and resumed for a few more updates must
end with exactly the weights, optimiser states and counters of the uninterrupted run; that covers the
overlay images (contract 4: a function of the seed and the stream position saved in the
agent's state), SODA's own replay batches and the random-crop algos' rendering size. On a DMC
task each algo trains and ``sgqn.eval --saliency`` writes its maps on video_hard frames.
"""

from __future__ import annotations

import json

import pytest

from sgqn import eval as sgqn_eval
from sgqn import train
from sgqn.agent.algorithms import ALGOS
from sgqn.config import Config
from sgqn.train.checkpoint import load_checkpoint
from tests.sgqn.runs import assert_same_state, csv_rows

_TINY = dict(
    seed=3,
    eval_episodes=1,
    eval_modes=("train",),
    saliency_freq=0,
    batch_size=8,
    num_conv_layers=3,
    num_filters=8,
    projection_dim=16,
    hidden_dim=32,
    image_size=48,
    crop_margin=8,
    soda_batch_size=16,
    overlay_source="embedded",
)
_ROBOT = dict(env="dmcgb/RobotReach-train-v0", action_repeat=4, init_steps=6, eval_freq=1000)
_ROBOT_EPISODE = 13  # agent steps: 50 control steps at action repeat 4
# The default run covers the algos whose data paths differ most (none, shift + overlay
# + SODA batches, random crop + SODA); the others run in the slow suite.
_DEFAULT = {"sac", "svea_soda", "soda"}


def _param(algo: str):
    return pytest.param(algo, marks=() if algo in _DEFAULT else pytest.mark.slow)


@pytest.mark.parametrize("algo", [_param(a) for a in ALGOS])
def test_robot_run_resumes_exactly_and_evaluates(algo, tmp_path):
    cfg = dict(_TINY, **_ROBOT, algo=algo)
    steps = _ROBOT_EPISODE + 4
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    train.main(Config(**cfg, steps=steps, run_dir=str(straight)), progress=False)
    train.main(Config(**cfg, steps=_ROBOT_EPISODE, run_dir=str(interrupted)), progress=False)
    train.main(Config(run_dir=str(interrupted), resume=True, steps=steps), progress=False)

    a = load_checkpoint(straight / "checkpoint.pt")
    b = load_checkpoint(interrupted / "checkpoint.pt")
    assert a["step"] == b["step"] == steps
    assert_same_state(a["agent"], b["agent"], "agent")  # networks, optimisers, counters
    returns = [r["episode_return"] for r in csv_rows(straight / "metrics.csv")]
    assert len(returns) == 1 and returns == [
        r["episode_return"] for r in csv_rows(interrupted / "metrics.csv")
    ]
    record = json.loads((straight / "config.json").read_text())
    assert record["config"]["algo"] == algo and record["config"]["preset"] == "cpu-demo"
    expected_size = 56 if algo in ("rad", "soda") else 48  # crop algos render 48 + 8
    assert a["replay"]["num_added"] == steps
    assert Config(**cfg).render_size == expected_size
    if Config(**cfg).uses_overlay:
        assert record["config"]["extra"]["overlay"].startswith("embedded")
        assert a["agent"]["overlay_drawn"] > 0

    evaluation = sgqn_eval.main(straight, modes="train,test1", episodes=1, saliency=True)
    assert evaluation.modes == ["train", "test1"] and evaluation.step == steps
    assert all(r.algo == algo and r.successes is not None for r in evaluation.results)
    assert (straight / "saliency" / f"eval_step{steps:08d}.png").stat().st_size > 10_000


@pytest.mark.slow
@pytest.mark.parametrize("algo", ALGOS)
def test_dmc_run_trains_and_explains_on_video_hard(algo, tmp_path, dmcgb_data):
    run_dir = tmp_path / "run"
    cfg = Config(
        **_TINY,
        env="dmcgb/CartpoleBalance-train-v0",
        algo=algo,
        action_repeat=8,
        init_steps=30,
        steps=130,
        eval_freq=1000,
        run_dir=str(run_dir),
    )
    train.main(cfg, progress=False)
    results = json.loads((run_dir / "results.json").read_text())["results"]
    assert [(r["mode"], r["algo"], r["step"]) for r in results] == [("train", algo, 130)]
    evaluation = sgqn_eval.main(run_dir, modes="videohard", episodes=1, saliency=True)
    assert evaluation.modes == ["videohard"] and evaluation.results[0].algo == algo
    assert (run_dir / "saliency" / "eval_step00000130.png").stat().st_size > 10_000
