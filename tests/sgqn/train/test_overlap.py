"""Env steps overlapped with the updates: the same run bit for bit, really concurrent, and
errors and stops as without overlap."""

from __future__ import annotations

import random
import threading

import gymnasium as gym
import numpy as np
import pytest
import torch

from dmcgb.protocol.envs import make_env
from sgqn import train
from sgqn.config import Config
from sgqn.train import loop
from sgqn.train.checkpoint import config_from_dict, load_checkpoint
from sgqn.train.replay import ReplayBuffer
from sgqn.train.stopping import Stopped
from tests.sgqn.runs import ENV, tiny
from tests.sgqn.train.test_resume import _assert_same_run, _sigterm_at_update

_STEPS = 50  # one 40-step episode and part of a second; evaluations at 25 and 50
_INIT = 20  # seed steps (tiny()'s): updates from step 20 on


def _replay_contents(run) -> dict[str, torch.Tensor]:
    """Everything the run's replay buffer holds, as its final checkpoint records it."""
    checkpoint = load_checkpoint(run / "checkpoint.pt")
    cfg = config_from_dict(checkpoint["config"])
    replay = ReplayBuffer(
        _STEPS, (3, 84, 84), checkpoint["action_shape"][0], cfg.frame_stack, "cpu"
    )
    replay.load(run / "replay", checkpoint["replay"])
    n, frames = replay.num_added, replay.num_frames
    assert n == _STEPS
    return {
        "frames": replay._frames[:frames],
        "action": replay._action[:n],
        "reward": replay._reward[:n],
        "not_done": replay._not_done[:n],
        "newest": replay._newest[:n],
        "start": replay._start[:n],
    }


@pytest.mark.parametrize("algo", ["sac", "sgqn"])
def test_overlap_gives_the_same_run_bit_for_bit_even_across_a_stop(
    tmp_path, monkeypatch, dmcgb_data, algo
):
    """Without overlap, straight through; with overlap, stopped by SIGTERM during the 35th
    update (step 35, mid-episode, while the env thread steps) and resumed: the same metrics,
    evaluations, results, weights, optimisers and replay buffer."""
    run = dict(algo=algo, steps=_STEPS, eval_freq=25)
    plain, overlapped = tmp_path / "plain", tmp_path / "overlapped"
    train.main(tiny(**run, overlap=False, run_dir=str(plain)), progress=False)
    with monkeypatch.context() as m:
        _sigterm_at_update(m, 35)
        with pytest.raises(Stopped):
            train.main(tiny(**run, overlap=True, run_dir=str(overlapped)), progress=False)
    checkpoint = load_checkpoint(overlapped / "checkpoint.pt")
    assert (checkpoint["step"], checkpoint["updates"]) == (35, 35)
    assert checkpoint["pending_action"] is not None and checkpoint["config"]["overlap"] is True
    train.main(Config(run_dir=str(overlapped), resume=True), progress=False)
    _assert_same_run(plain, overlapped, steps=_STEPS, episodes=1)
    ours, theirs = _replay_contents(overlapped), _replay_contents(plain)
    for name, tensor in theirs.items():
        assert torch.equal(ours[name], tensor), name


class _Rendezvous(gym.Wrapper):
    """Records the thread of every env call; from step ``after`` on, each step waits at a
    barrier that the loop's updates of the same step also reach: it passes only if the two
    run at the same time."""

    def __init__(self, env: gym.Env, barrier: threading.Barrier, after: int, threads: set):
        super().__init__(env)
        self.barrier, self.after, self.threads, self.steps = barrier, after, threads, 0
        threads.add(threading.current_thread().name)

    def reset(self, **kwargs):
        self.threads.add(threading.current_thread().name)
        return self.env.reset(**kwargs)

    def step(self, action):
        self.threads.add(threading.current_thread().name)
        self.steps += 1
        if self.steps > self.after:
            self.barrier.wait()
        return self.env.step(action)


def test_the_env_lives_on_its_own_thread_and_steps_while_the_agent_updates(
    tmp_path, monkeypatch, dmcgb_data
):
    barrier = threading.Barrier(2, timeout=60)  # a timeout breaks it: the test fails, not hangs
    threads: set[str] = set()
    real_make, real_update_to = loop.make_env, loop.Trainer.update_to

    def make_watched_env(*args, **kwargs):
        return _Rendezvous(real_make(*args, **kwargs), barrier, _INIT, threads)

    def update_to(self, step):
        if step >= _INIT:
            barrier.wait()
        return real_update_to(self, step)

    monkeypatch.setattr(loop, "make_env", make_watched_env)
    monkeypatch.setattr(loop.Trainer, "update_to", update_to)
    cfg = tiny(steps=_INIT + 5, eval_freq=_INIT + 5, run_dir=str(tmp_path / "run"))
    train.main(cfg, progress=False)
    assert not barrier.broken
    assert len(threads) == 1 and threads.pop().startswith("env-step")  # built, reset, stepped
    assert not [t for t in threading.enumerate() if t.name.startswith("env-step")]


class _Failing(gym.Wrapper):
    def __init__(self, env: gym.Env, at: int):
        super().__init__(env)
        self.at, self.steps = at, 0

    def step(self, action):
        self.steps += 1
        if self.steps == self.at:
            raise RuntimeError(f"simulated env failure at step {self.at}")
        return self.env.step(action)


@pytest.mark.parametrize("overlap", [True, False])
def test_an_env_error_propagates_as_without_overlap(tmp_path, monkeypatch, dmcgb_data, overlap):
    real_make = loop.make_env
    monkeypatch.setattr(loop, "make_env", lambda *a, **kw: _Failing(real_make(*a, **kw), 25))
    cfg = tiny(steps=_STEPS, overlap=overlap, run_dir=str(tmp_path / "run"))
    with pytest.raises(RuntimeError, match="simulated env failure at step 25") as error:
        train.main(cfg, progress=False)
    assert error.traceback[-1].name == "step"  # raised where env.step raised it
    assert not [t for t in threading.enumerate() if t.name.startswith("env-step")]


def _global_generators() -> tuple:
    return random.getstate(), repr(np.random.get_state()), torch.get_rng_state()


@pytest.mark.parametrize("mode", ["train", "videohard", "colorhard", "distractingcs0.1"])
def test_dmcgb_envs_draw_nothing_from_the_global_generators(dmcgb_data, mode):
    """What overlap relies on: a step (or a reset) leaves numpy's, torch's and Python's global
    generators as they were, so the update on the other thread draws what it would alone."""
    env = make_env(ENV.replace("-train-", f"-{mode}-"), seed=1, action_repeat=25)
    try:
        env.reset(seed=1)
        before = _global_generators()
        for seed in (2, 3):
            env.reset(seed=seed)
            for _ in range(3):
                env.step(env.action_space.sample())
        after = _global_generators()
    finally:
        env.close()
    assert after[:2] == before[:2] and torch.equal(after[2], before[2])
