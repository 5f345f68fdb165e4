"""Evaluation episodes as the benchmark runs them, in parallel worker processes when cores allow.

The protocol (DMControl-GB's, with true per-episode seeding):

* Episode ``i`` of a mode starts with ``reset(seed=episode_seed(seed, EVAL, mode, i),
  options={"episode": i})``. The seed fixes the initial state (and, in the colour modes, the
  colour setting drawn: the first draw of a generator seeded with it); the option makes the
  episode the ``i``-th of the benchmark's sequence, so in the video modes episode ``i`` shows
  the background video the benchmark shows in its ``i``-th evaluation episode (30 episodes of
  video_hard: 30 different videos). Any episode can thus be re-run alone, in any worker, and
  evaluations at different steps (or of runs with the same seed) see the same episodes.
* The policy acts deterministically (an agent's mean action); nothing here draws from the
  global RNGs, so an evaluation never changes the training that follows it.
* Each episode's return, ``info["is_success"]`` at its end (robot tasks), and the video or
  colour it showed (``info["video_index"]`` / ``info["color_index"]``) are recorded.

The envs of a run (``dmcgb.protocol.mode_envs``) may hold several worker processes per mode:
all modes step together, a worker that finishes an episode is reset with the next episode's
seed and index, and one call of the policy picks every worker's action.

A policy is ``act(observations) -> actions``: (N, frame_stack, H, W, 3) uint8 in, (N, A) out
(:func:`dmcgb.evaluate` wraps a one-observation policy into one). An exception it raises, or an
action of the wrong shape or not finite, ends the evaluation with a :class:`PolicyError` naming
the mode, the episode and the value; the episodes that ended before are kept in the error.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from dmcgb.atomic import atomic_path
from dmcgb.errors import DMCGBError
from dmcgb.protocol.mode_envs import EvalEnvs
from dmcgb.protocol.results import Evaluation, ModeResult, source_prefix

__all__ = [
    "Act",
    "Episodes",
    "PolicyError",
    "run_episodes",
    "evaluate_run",
    "episode_seed",
    "TRAIN",
    "EVAL",
    "FIGURE",
]

TRAIN, EVAL, FIGURE = 0, 1, 2  # seed streams: training episodes, eval episodes, figure frames
_VIDEO_SCALE = 4  # 84 px frames -> 336 px videos (a multiple of 16, as codecs want)

Act = Callable[[np.ndarray], np.ndarray]  # (N, k, H, W, 3) uint8 -> (N, A) actions


class PolicyError(DMCGBError, ValueError):
    """A policy raised, or returned an action the env cannot take.

    Attributes:
        finished: per mode, the episodes that ended before the error (only those).
    """

    def __init__(self, message: str, finished: dict[str, Episodes] | None = None) -> None:
        super().__init__(message)
        self.finished = finished or {}


class RowError(Exception):
    """Raised by a policy adapter that calls a policy one observation at a time: which row of
    the batch failed, and why (:func:`run_episodes` names that row's episode)."""

    def __init__(self, row: int, cause: BaseException) -> None:
        super().__init__(row, cause)
        self.row, self.cause = row, cause


def episode_seed(seed: int, stream: int, *keys: int | str) -> int:
    """A reset seed that depends only on the run seed, the stream and the keys."""
    ints = [zlib.crc32(k.encode()) if isinstance(k, str) else int(k) for k in keys]
    return int(np.random.SeedSequence([seed, stream, *ints]).generate_state(1)[0])


@dataclass
class Episodes:
    """What the episodes of one mode gave, in episode order (None: the env does not say)."""

    returns: list[float]
    successes: list[bool] | None
    videos: list[int] | None
    colors: list[int] | None
    indices: list[int] | None = None  # which episodes, where not all of 0..n-1 (a partial run)


def _slot_info(info: dict[str, Any], key: str, slot: int, vector: bool) -> Any:
    """``info[key]`` of one worker (vector infos hold arrays with a ``_key`` mask)."""
    if not vector:
        return info.get(key)
    if key not in info:
        return None
    mask = info.get(f"_{key}")
    if mask is not None and not bool(np.asarray(mask)[slot]):
        return None
    return np.asarray(info[key])[slot].item()


class _ModeRun:
    """Book-keeping of one mode's episodes over the slots of its (vector) env."""

    def __init__(self, mode: str, env: Any, episodes: int, seed: int, video: bool) -> None:
        self.mode, self.env, self.episodes = mode, env, episodes
        self.vector = isinstance(env, gym.vector.VectorEnv)
        self.slots = env.num_envs if self.vector else 1
        self.action_space = env.single_action_space if self.vector else env.action_space
        self.seeds = [episode_seed(seed, EVAL, mode, i) for i in range(episodes)]
        self.returns = [math.nan] * episodes
        self.successes: list[bool | None] = [None] * episodes
        self.videos: list[int | None] = [None] * episodes
        self.colors: list[int | None] = [None] * episodes
        self.totals = np.zeros(self.slots)
        self.episode_of = np.full(self.slots, -1)
        self.next_episode = 0
        self.frames: list[np.ndarray] | None = [] if video else None
        starting = np.arange(self.slots) < min(self.slots, episodes)
        self.active = starting
        self.obs = self._reset(starting)

    def _reset(
        self, mask: np.ndarray, obs: np.ndarray | None = None, idle: np.ndarray | None = None
    ) -> np.ndarray:
        """Start the next episodes in the ``mask`` slots; ``idle`` slots (done, with no
        episode left) get a throwaway reset, since a vector env steps every slot."""
        seeds: list[int | None] = [None] * self.slots
        indices = [0] * self.slots
        for j in np.flatnonzero(mask):
            self.episode_of[j] = self.next_episode
            seeds[j] = self.seeds[self.next_episode]
            indices[j] = self.next_episode
            self.next_episode += 1
        if not self.vector:
            reset_obs, info = self.env.reset(seed=seeds[0], options={"episode": indices[0]})
            self._note_reset(info, mask)
            return reset_obs[None]
        every = mask if idle is None else mask | idle
        reset_obs, info = self.env.reset(
            seed=seeds, options={"reset_mask": every, "episodes": indices}
        )
        self._note_reset(info, mask)
        if obs is None:
            return reset_obs
        obs = obs.copy()
        obs[every] = reset_obs[every]
        return obs

    def _note_reset(self, info: dict[str, Any], mask: np.ndarray) -> None:
        for j in np.flatnonzero(mask):
            i = self.episode_of[j]
            self.videos[i] = _slot_info(info, "video_index", int(j), self.vector)
            self.colors[i] = _slot_info(info, "color_index", int(j), self.vector)

    def finished(self) -> Episodes:
        """The episodes that have ended, in episode order, with their indices."""
        done = [i for i, r in enumerate(self.returns) if not math.isnan(r)]

        def pick(values: list) -> list | None:
            chosen = [values[i] for i in done]
            return None if any(v is None for v in chosen) else chosen

        returns = [self.returns[i] for i in done]
        return Episodes(returns, pick(self.successes), pick(self.videos), pick(self.colors), done)

    def record(self) -> None:
        if self.frames is not None and self.active[0] and self.episode_of[0] == 0:
            self.frames.append(self.obs[0, -1])

    def step_async(self, actions: np.ndarray) -> None:
        if self.vector:
            self.env.step_async(actions)
        else:
            self._pending = self.env.step(actions[0])

    def step_wait(self) -> int:
        """Finish the step; returns how many episodes ended."""
        if self.vector:
            obs, reward, terminated, truncated, info = self.env.step_wait()
        else:
            o, r, te, tr, info = self._pending
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
            return 0
        for j in np.flatnonzero(done):
            i = self.episode_of[j]
            self.returns[i] = float(self.totals[j])
            success = _slot_info(info, "is_success", int(j), self.vector)
            self.successes[i] = None if success is None else bool(success)
            self.totals[j] = 0.0
        remaining = self.episodes - self.next_episode
        restart = done & (np.cumsum(done) <= remaining)
        idle = done & ~restart
        self.active = self.active & ~done | restart
        if restart.any() or (self.vector and idle.any() and self.active.any()):
            self.obs = self._reset(restart, self.obs, idle if self.vector else None)
        return int(done.sum())

    def result(self) -> Episodes:
        def complete(values: list) -> list | None:
            return None if any(v is None for v in values) else list(values)

        return Episodes(
            list(self.returns),
            complete(self.successes),
            complete(self.videos),
            complete(self.colors),
        )


def run_episodes(
    act: Act,
    envs: EvalEnvs,
    episodes: int,
    seed: int,
    video_dir: Path | None = None,
    video_name: str = "",
    progress: Callable[[int, int], None] | None = None,
    check_stop: Callable[[], None] | None = None,
) -> dict[str, Episodes]:
    """``episodes`` deterministic episodes per mode.

    Args:
        act: the policy, ``(N, k, H, W, 3) uint8 -> (N, A)``.
        envs: the run's :class:`EvalEnvs`.
        episodes: episodes per mode.
        seed: the run seed (episode seeds derive from it).
        video_dir: if given, the first episode of each mode is written there as an mp4.
        video_name: prefix of the video file names.
        progress: called after every batched step with (agent steps taken, episodes ended).
        check_stop: called after every batched step; raises to abandon the evaluation.

    Raises:
        PolicyError: the policy raised or returned a bad action (the message names the mode,
            the episode and the value; ``finished`` holds the episodes that ended before).
    """
    runs = [_ModeRun(m, envs.envs[m], episodes, seed, video_dir is not None) for m in envs.modes]
    while True:
        live = [r for r in runs if r.active.any()]
        if not live:
            break
        for r in live:
            r.record()
        batch = np.concatenate([r.obs for r in live])  # (sum of slots, k, H, W, 3)
        actions = _actions(act, batch, live, runs)
        offset = 0
        for r in live:
            r.step_async(actions[offset : offset + r.slots])
            offset += r.slots
        steps = sum(int(r.active.sum()) for r in live)
        ended = sum(r.step_wait() for r in live)
        if progress is not None:
            progress(steps, ended)
        if check_stop is not None:
            check_stop()
    if video_dir is not None:
        for r in runs:
            _write_video(video_dir / f"{video_name}{r.mode}.mp4", r.frames or [])
    return {r.mode: r.result() for r in runs}


def _actions(act: Act, batch: np.ndarray, live: list[_ModeRun], runs: list[_ModeRun]) -> np.ndarray:
    """The policy's actions for ``batch``, checked; a PolicyError names the culprit episode."""
    where = [(r, j) for r in live for j in range(r.slots)]

    def fail(row: int | None, what: str) -> PolicyError:
        if row is None:
            place = f"a batch of {len(where)} observations"
        else:
            r, j = where[row]
            episode = int(r.episode_of[j])
            place = f"{r.mode} episode {episode}" if r.active[j] else f"an idle {r.mode} worker"
        finished = {r.mode: r.finished() for r in runs}
        return PolicyError(f"the policy failed in {place}: {what}", finished)

    try:
        actions = act(batch)
    except RowError as error:
        cause = error.cause
        raise fail(error.row, f"{type(cause).__name__}: {cause}") from cause
    except Exception as error:  # the policy's own error, whatever it is
        raise fail(None, f"{type(error).__name__}: {error}") from error
    space = live[0].action_space
    expected = (len(where), *space.shape)
    try:
        actions = np.asarray(actions, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise fail(
            None, f"its output {actions!r:.200} is not an array of numbers ({error})"
        ) from None
    if actions.shape != expected:
        row = 0 if actions.ndim == 0 or actions.shape[0] != expected[0] else None
        raise fail(row, f"expected actions of shape {expected} ({space.shape} each), got "
                        f"{actions.shape}: {actions!r:.200}")  # fmt: skip
    bad = ~np.isfinite(actions).all(axis=tuple(range(1, actions.ndim)))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise fail(row, f"the action {actions[row]!r} is not finite")
    return actions


def evaluate_run(
    act: Act,
    envs: EvalEnvs,
    *,
    algo: str,
    seed: int,
    step: int,
    action_repeat: int,
    episodes: int,
    source: str = "train",
    video_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    check_stop: Callable[[], None] | None = None,
) -> Evaluation:
    """Evaluate every mode of ``envs`` and package the episodes as an :class:`Evaluation`."""
    prefix = f"{source_prefix(source)}step{step:08d}_"
    by_mode = run_episodes(act, envs, episodes, seed, video_dir, prefix, progress, check_stop)
    results = tuple(
        ModeResult(
            env_id=envs.env_ids[mode],
            mode=mode,
            algo=algo,
            seed=seed,
            step=step,
            frames=step * action_repeat,
            returns=tuple(e.returns),
            successes=None if e.successes is None else tuple(e.successes),
            videos=None if e.videos is None else tuple(e.videos),
            colors=None if e.colors is None else tuple(e.colors),
        )
        for mode, e in by_mode.items()
    )
    return Evaluation(step=step, results=results, source=source)


def _write_video(path: Path, frames: list[np.ndarray]) -> None:
    import imageio.v2 as imageio

    if not frames:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    scaled = [f.repeat(_VIDEO_SCALE, 0).repeat(_VIDEO_SCALE, 1) for f in frames]
    with atomic_path(path) as tmp:
        imageio.mimsave(tmp, scaled, fps=15, macro_block_size=1)
