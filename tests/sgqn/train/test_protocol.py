"""The paper's protocol in the details that shape its numbers: the robot tasks' preset, the
updates an evaluated agent has had, the step-0 evaluation, the final evaluation, --dry-run.

Sources, read in SuReLI/SGQN (the authors' code) and nicklashansen/dmcontrol-generalization-
benchmark: robot_env/src/arguments.py (frame_stack 1, episode_length 50, sgsac_quantile 0.95,
aux_lr 3e-4, eval_episodes 30), robot_env/scripts/*.sh (--train_steps 250k),
robot_env/src/algorithms/{sgsac,svea,soda}.py (random_conv where the DMC code overlays; the
consistency term without the DMC code's factor 0.5), DMC/src/train.py and robot_env/src/train.py
(the training loop: evaluation at step 0 and every eval_freq steps, before the step's update),
DMC/scripts/eval/*.sh (eval.py, --eval_episodes 100).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal

import gymnasium as gym
import pytest

import dmcgb  # noqa: F401  (registers the ids)
from dmcgb.protocol.results import evaluation_path, read_evaluation, read_evaluations, read_final
from sgqn import train
from sgqn.config import Config
from sgqn.presets import paper_differences, resolve
from sgqn.train import loop
from sgqn.train.checkpoint import load_checkpoint
from sgqn.train.stopping import Stopped
from tests.sgqn.runs import csv_rows, tiny


def test_the_robot_paper_preset_is_the_authors_robot_protocol():
    cfg = resolve(Config(env="dmcgb/RobotPegInBox-train-v0", algo="sgqn"), "paper")
    assert (cfg.steps, cfg.frame_stack, cfg.action_repeat) == (250_000, 1, 1)
    assert (cfg.resolved_quantile(), cfg.aux_lr, cfg.consistency_weight) == (0.95, 3e-4, 1.0)
    assert (cfg.svea_augmentation, cfg.aux_augmentation) == ("conv", "conv")
    assert (cfg.init_steps, cfg.batch_size, cfg.eval_freq, cfg.eval_episodes) == (
        1000, 128, 10_000, 30,
    )  # fmt: skip
    assert cfg.eval_modes == ("train", "test1", "test2", "test3", "test4", "test5")
    assert (cfg.eval_at_start, cfg.final_eval_episodes) == (True, 0)  # no eval.py for robots
    assert cfg.obs_shape == (3, 84, 84) and not cfg.uses_overlay  # convolutions, no images
    assert paper_differences(cfg) == {}
    # 50 control steps per episode at action repeat 1: 50 agent steps
    env = gym.make("dmcgb/RobotPegInBox-train-v0", action_repeat=cfg.action_repeat)
    assert env.unwrapped.max_episode_steps == 50
    env.close()


def test_the_dmc_paper_preset_and_explicit_flags():
    cfg = resolve(Config(algo="svea"), "paper")
    assert (cfg.frame_stack, cfg.action_repeat, cfg.consistency_weight) == (3, 4, 0.5)
    assert (cfg.svea_augmentation, cfg.aux_augmentation) == ("overlay", "overlay")
    assert (cfg.eval_at_start, cfg.final_eval_episodes) == (True, 100)
    demo = resolve(Config(), "cpu-demo")
    assert (demo.eval_at_start, demo.final_eval_episodes) == (False, 0)
    # a value given is kept, and listed as a difference where it is one
    robot = resolve(Config(env="dmcgb/RobotReach-train-v0", frame_stack=3), "paper")
    assert robot.frame_stack == 3 and paper_differences(robot) == {"frame_stack": (3, 1)}


def _reference_updates_before_evaluation(total: int, init_steps: int) -> int:
    """DMControl-GB's train.py, step by step: at step s (0..total), an episode boundary first
    evaluates (every eval_freq steps, step 0 and step total included), then the step's updates
    run (init_steps of them at s == init_steps, one after), then the env steps."""
    updates = 0
    for step in range(total + 1):
        if step == total:
            return updates  # the evaluation at the last step sees this many
        if step >= init_steps:
            updates += init_steps if step == init_steps else 1
    raise AssertionError("unreachable")


def test_step_0_periodic_and_final_evaluations_and_the_updates_an_evaluated_agent_had(tmp_path):
    run = tmp_path / "run"
    cfg = tiny(steps=12, init_steps=5, eval_freq=6, eval_at_start=True, final_eval_episodes=2)
    train.main(dataclasses.replace(cfg, run_dir=str(run)), progress=False)
    # the step-0 evaluation of the untrained agent, then every eval_freq steps
    assert [e.step for e in read_evaluations(run)] == [0, 6, 12]
    assert all(r.episodes == 1 for e in read_evaluations(run) for r in e.results)
    # the final evaluation: its own file, its own episode count, and results.json
    final = read_evaluation(evaluation_path(run, 12, source="final"))
    assert final.source == "final" and [r.episodes for r in final.results] == [2]
    assert read_final(run) == final
    assert [int(r["step"]) for r in csv_rows(run / "eval.csv")] == [0, 6, 12]  # the curve only
    # the agent evaluated at step N has had N - 1 updates, as in the reference loop
    state = load_checkpoint(run / "checkpoint.pt")
    assert state["updates"] == 11 == _reference_updates_before_evaluation(12, 5)
    assert _reference_updates_before_evaluation(500_000, 1000) == 499_999


def test_a_stop_during_the_final_evaluation_is_redone_on_resume(tmp_path, monkeypatch):
    run = tmp_path / "run"
    real = loop.evaluate_run

    def stop_in_final(agent, envs, **kw):
        if kw["source"] == "final":
            os.kill(os.getpid(), signal.SIGTERM)
        return real(agent, envs, **kw)

    monkeypatch.setattr(loop, "evaluate_run", stop_in_final)
    cfg = tiny(steps=12, init_steps=5, eval_freq=6, final_eval_episodes=2, run_dir=str(run))
    with pytest.raises(Stopped):
        train.main(cfg, progress=False)
    assert read_final(run) is None
    monkeypatch.setattr(loop, "evaluate_run", real)
    train.main(Config(run_dir=str(run), resume=True), progress=False)
    final = read_final(run)
    assert final.source == "final" and final.step == 12 and final.results[0].episodes == 2


def test_dry_run_prints_the_resolved_config_and_creates_nothing(tmp_path, capsys):
    run = tmp_path / "new" / "run"
    train.cli(["--env", "dmcgb/RobotReach-train-v0", "--preset", "paper", "--dry-run",
               "--run-dir", str(run), "--device", "cpu"])  # fmt: skip
    record = json.loads(capsys.readouterr().out)
    assert record["config"]["frame_stack"] == 1 and record["total_steps"] == 250_000
    assert record["differs_from_paper"] == {} and record["preset"] == "paper"
    assert not (tmp_path / "new").exists()
