"""Deterministic evaluation episodes, in parallel worker processes when there are spare cores.

Episode ``i`` of a mode always starts from the seed ``episode_seed(seed, EVAL, mode, i)``, so
evaluations at different steps, sequential or parallel, and of runs with the same seed see the
same initial states. The policy acts with its mean action.

With ``workers > 1`` each mode gets a ``gymnasium.vector.AsyncVectorEnv`` (spawned processes,
autoreset disabled: a worker that finishes an episode is reset with the next episode's seed),
all modes step together, and one batched forward pass picks every worker's action. The paper's
protocol (30 episodes x 3 modes every 10k steps) otherwise costs more than the training
between evaluations.
"""

from __future__ import annotations

import functools
import math
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from sgqn.envs import make_env, to_chw
from sgqn.files import atomic_path

__all__ = ["EvalEnvs", "evaluate", "episode_seed", "default_workers", "TRAIN", "EVAL", "FIGURE"]

TRAIN, EVAL, FIGURE = 0, 1, 2  # seed streams: training episodes, eval episodes, figure frames
_VIDEO_SCALE = 4  # 84 px frames -> 336 px videos (a multiple of 16, as codecs want)
_RESERVED_CORES = 2  # left to the training process (and its overlay decoder)


def episode_seed(seed: int, stream: int, *keys: int | str) -> int:
    """A reset seed that depends only on the run seed, the stream and the keys."""
    ints = [zlib.crc32(k.encode()) if isinstance(k, str) else int(k) for k in keys]
    return int(np.random.SeedSequence([seed, stream, *ints]).generate_state(1)[0])


def default_workers(num_modes: int) -> int:
    """Eval worker processes per mode: the spare cores shared by the modes (1: in-process)."""
    spare = (os.cpu_count() or 1) - _RESERVED_CORES
    return max(1, spare // max(1, num_modes))


@dataclass
class EvalEnvs:
    """The evaluation envs of a run, one (possibly vectorised) env per mode.

    Args:
        env_ids: env id per mode.
        seed: base seed of the envs' action spaces.
        frame_stack, action_repeat, image_size: as for :func:`sgqn.envs.make_env`.
        workers: processes per mode; 1 keeps the env in this process.

    Raises:
        dmcgb.errors.MissingData: a mode's data (videos, colours) is not available; each env
            is reset once at construction so that this happens before training starts.
    """

    env_ids: dict[str, str]
    seed: int
    frame_stack: int = 3
    action_repeat: int = 4
    image_size: int = 84
    workers: int = 1
    envs: dict[str, Any] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        try:
            for i, (mode, env_id) in enumerate(self.env_ids.items()):
                self.envs[mode] = self._make(env_id, self.seed + 1 + i)
                # Some modes load their data (videos) on reset: fail now, not hours later.
                self.envs[mode].reset(seed=self.seed)
        except BaseException:
            self.close()
            raise

    def _make(self, env_id: str, seed: int) -> Any:
        make = functools.partial(
            make_env, env_id, seed, self.frame_stack, self.action_repeat, self.image_size
        )
        if self.workers == 1:
            return make()
        return gym.vector.AsyncVectorEnv(
            [make] * self.workers,
            context="spawn",  # no fork of a process holding CUDA or GL state
            autoreset_mode=gym.vector.AutoresetMode.DISABLED,
        )

    def single(self, mode: str) -> gym.Env:
        """An in-process env of ``mode`` (figures need one); made on first use if vectorised."""
        env = self.envs[mode]
        if isinstance(env, gym.vector.VectorEnv):
            key = f"_single_{mode}"
            if key not in self.envs:
                self.envs[key] = make_env(
                    self.env_ids[mode],
                    self.seed,
                    self.frame_stack,
                    self.action_repeat,
                    self.image_size,
                )
            return self.envs[key]
        return env

    def close(self) -> None:
        for env in self.envs.values():
            env.close()
        self.envs.clear()


class _ModeRun:
    """Book-keeping of one mode's episodes over the slots of its (vector) env."""

    def __init__(self, mode: str, env: Any, episodes: int, seed: int, video: bool) -> None:
        self.mode, self.env, self.episodes = mode, env, episodes
        self.vector = isinstance(env, gym.vector.VectorEnv)
        self.slots = env.num_envs if self.vector else 1
        self.seeds = [episode_seed(seed, EVAL, mode, i) for i in range(episodes)]
        self.returns = [math.nan] * episodes
        self.totals = np.zeros(self.slots)
        self.episode_of = np.full(self.slots, -1)
        self.next_episode = 0
        self.frames: list[np.ndarray] | None = [] if video else None
        starting = np.arange(self.slots) < min(self.slots, episodes)
        self.active = starting
        self.obs = self._reset(starting)

    def _reset(self, mask: np.ndarray, obs: np.ndarray | None = None) -> np.ndarray:
        seeds: list[int | None] = [None] * self.slots
        for j in np.flatnonzero(mask):
            self.episode_of[j] = self.next_episode
            seeds[j] = self.seeds[self.next_episode]
            self.next_episode += 1
        if not self.vector:
            return self.env.reset(seed=seeds[0])[0][None]
        reset_obs, _ = self.env.reset(seed=seeds, options={"reset_mask": mask})
        if obs is None:
            return reset_obs
        obs = obs.copy()
        obs[mask] = reset_obs[mask]
        return obs

    def record(self) -> None:
        if self.frames is not None and self.active[0] and self.episode_of[0] == 0:
            self.frames.append(self.obs[0, -1])

    def step_async(self, actions: np.ndarray) -> None:
        if self.vector:
            self.env.step_async(actions)
        else:
            self._pending = self.env.step(actions[0])

    def step_wait(self) -> None:
        if self.vector:
            obs, reward, terminated, truncated, _ = self.env.step_wait()
        else:
            o, r, te, tr, _ = self._pending
            obs, reward, terminated, truncated = (
                o[None],
                np.array([r]),
                np.array([te]),
                np.array([tr]),
            )
        self.totals += np.where(self.active, reward, 0.0)
        done = (np.asarray(terminated) | np.asarray(truncated)) & self.active
        self.obs = obs
        if not done.any():
            return
        for j in np.flatnonzero(done):
            self.returns[self.episode_of[j]] = float(self.totals[j])
            self.totals[j] = 0.0
        remaining = self.episodes - self.next_episode
        restart = done & (np.cumsum(done) <= remaining)
        self.active = self.active & ~done | restart
        if restart.any():
            self.obs = self._reset(restart, self.obs)


def evaluate(
    agent: Any,
    envs: EvalEnvs,
    episodes: int,
    seed: int,
    video_dir: Path | None = None,
    video_name: str = "",
) -> dict[str, list[float]]:
    """Returns of ``episodes`` deterministic episodes per mode.

    Args:
        agent: anything with ``act(obs_batch, sample=False) -> (B, A)``.
        envs: the run's :class:`EvalEnvs`.
        episodes: episodes per mode.
        seed: the run seed (episode seeds derive from it).
        video_dir: if given, the first episode of each mode is written there as an mp4.
        video_name: prefix of the video file names.
    """
    runs = [_ModeRun(m, e, episodes, seed, video_dir is not None) for m, e in _modes(envs)]
    while True:
        live = [r for r in runs if r.active.any()]
        if not live:
            break
        for r in live:
            r.record()
        batch = np.concatenate([to_chw(r.obs) for r in live])  # (sum of slots, 3k, H, W)
        actions = agent.act(batch, sample=False)
        offset = 0
        for r in live:
            r.step_async(actions[offset : offset + r.slots])
            offset += r.slots
        for r in live:
            r.step_wait()
    if video_dir is not None:
        for r in runs:
            _write_video(video_dir / f"{video_name}{r.mode}.mp4", r.frames or [])
    return {r.mode: r.returns for r in runs}


def _modes(envs: EvalEnvs) -> list[tuple[str, Any]]:
    return [(m, e) for m, e in envs.envs.items() if not m.startswith("_single_")]


def _write_video(path: Path, frames: list[np.ndarray]) -> None:
    import imageio.v2 as imageio

    if not frames:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    scaled = [f.repeat(_VIDEO_SCALE, 0).repeat(_VIDEO_SCALE, 1) for f in frames]
    with atomic_path(path) as tmp:
        imageio.mimsave(tmp, scaled, fps=15, macro_block_size=1)
