"""Evaluation episodes as the benchmark runs them, in parallel worker processes when cores allow.

The protocol (DMControl-GB's, with true per-episode seeding):

* Episode ``i`` of a mode starts with ``reset(seed=episode_seed(seed, EVAL, mode, i),
  options={"episode": i})``. The seed fixes the initial state (and, in the colour modes, the
  colour setting drawn: the first draw of a generator seeded with it); the option makes the
  episode the ``i``-th of the benchmark's sequence, so in the video modes episode ``i`` shows
  the background video the benchmark shows in its ``i``-th evaluation episode (30 episodes of
  video_hard: 30 different videos). Any episode can thus be re-run alone, in any worker, and
  evaluations at different steps (or of runs with the same seed) see the same episodes.
* The policy acts with its mean action; nothing here draws from the global RNGs, so an
  evaluation never changes the training that follows it.
* Each episode's return, ``info["is_success"]`` at its end (robot tasks), and the video or
  colour it showed (``info["video_index"]`` / ``info["color_index"]``) are recorded.

With ``workers > 1`` each mode gets a ``gymnasium.vector.AsyncVectorEnv`` (spawned processes,
autoreset off: a worker that finishes an episode is reset with the next episode's seed and
index), all modes step together, and one batched forward pass picks every worker's action.
"""

from __future__ import annotations

import functools
import math
import os
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from sgqn.config import Config, ConfigError
from sgqn.envs import eval_env_id, make_env, to_chw
from sgqn.files import atomic_path
from sgqn.results import Evaluation, ModeResult, source_prefix

__all__ = [
    "EvalEnvs",
    "Episodes",
    "evaluate",
    "evaluate_run",
    "episode_seed",
    "default_workers",
    "task_modes",
    "check_modes",
    "data_groups",
    "write_saliency_figure",
    "eval_env_ids",
    "TRAIN",
    "EVAL",
    "FIGURE",
]

TRAIN, EVAL, FIGURE = 0, 1, 2  # seed streams: training episodes, eval episodes, figure frames
_VIDEO_SCALE = 4  # 84 px frames -> 336 px videos (a multiple of 16, as codecs want)
_RESERVED_CORES = 2  # left to the training process (and its overlay decoder)
_SALIENCY_STEPS = (10, 60)  # agent steps into an episode at which figure frames are taken
_SALIENCY_MODES = ("train", "videohard")


def episode_seed(seed: int, stream: int, *keys: int | str) -> int:
    """A reset seed that depends only on the run seed, the stream and the keys."""
    ints = [zlib.crc32(k.encode()) if isinstance(k, str) else int(k) for k in keys]
    return int(np.random.SeedSequence([seed, stream, *ints]).generate_state(1)[0])


def default_workers(num_modes: int) -> int:
    """Eval worker processes per mode: the spare cores shared by the modes (1: in-process)."""
    spare = (os.cpu_count() or 1) - _RESERVED_CORES
    return max(1, spare // max(1, num_modes))


# --- which modes a run has -----------------------------------------------------------------


def task_modes(train_id: str) -> tuple[str, ...]:
    """The test distributions (or robot variants) the task of ``train_id`` exists in."""
    if not train_id.startswith("dmcgb/"):
        return ("train",)
    from dmcgb.registration import ROBOT_TASKS, ROBOT_VARIANTS, all_env_ids, env_id, parse_env_id

    task, _ = parse_env_id(train_id)
    if task in ROBOT_TASKS:
        return tuple(ROBOT_VARIANTS)
    from dmcgb.modes import MODES

    registered = set(all_env_ids())
    return tuple(mode for mode in MODES if env_id(task, mode) in registered)


def check_modes(train_id: str, modes: Sequence[str], flag: str = "--eval-modes") -> None:
    """Raise ConfigError naming the task's modes if one of ``modes`` does not exist for it."""
    valid = task_modes(train_id)
    wrong = [m for m in modes if m not in valid]
    if wrong:
        import difflib

        close = difflib.get_close_matches(wrong[0], valid, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        if "," in wrong[0]:  # sgqn.eval's --modes takes commas, sgqn.train's --eval-modes spaces
            hint = f" (separate modes with spaces: {flag} {' '.join(wrong[0].split(','))})"
        raise ConfigError(
            f"{flag}: {train_id.split('/')[-1].split('-')[0]} has no mode {wrong[0]!r}{hint}; "
            f"its modes are: {', '.join(valid)}"
        )


def data_groups(env_id: str) -> tuple[str, ...]:
    """The ``dmcgb.data`` groups an env needs (``video_hard``, ``color_easy``; none for train)."""
    if not env_id.startswith("dmcgb/"):
        return ()
    from dmcgb.modes import MODES
    from dmcgb.registration import parse_env_id

    mode = MODES.get(parse_env_id(env_id)[1])
    return (mode.data,) if mode is not None and mode.data else ()


# --- the envs ------------------------------------------------------------------------------


class _SlotEnv(gym.Wrapper):
    """A vector worker's env: reset option ``{"episodes": [k per worker]}`` -> ``{"episode": k}``.

    Vector envs hand every worker the same options; this picks the worker's own episode index.
    """

    def __init__(self, env: gym.Env, slot: int) -> None:
        super().__init__(env)
        self.slot = slot

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if options and "episodes" in options:
            episodes = options["episodes"]
            options = {k: v for k, v in options.items() if k != "episodes"}
            options["episode"] = int(episodes[self.slot])
        return self.env.reset(seed=seed, options=options)


def _make_worker_env(env_id, seed, frame_stack, action_repeat, image_size, slot) -> gym.Env:
    return _SlotEnv(make_env(env_id, seed, frame_stack, action_repeat, image_size), slot)


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
    _singles: dict[str, gym.Env] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        try:
            for i, (mode, env_id) in enumerate(self.env_ids.items()):
                self.envs[mode] = self._make(env_id, self.seed + 1 + i)
                # Some modes load their data (videos) on reset: fail now, not hours later.
                self.envs[mode].reset(seed=self.seed)
        except BaseException:
            self.close()
            raise

    @classmethod
    def for_run(
        cls, cfg: Config, modes: Sequence[str], seed: int, episodes: int, workers: int | None = None
    ) -> EvalEnvs:
        """A run's eval envs: ``workers`` processes per mode (default: by the cores), at most
        one per episode."""
        workers = min(workers or default_workers(len(modes)), episodes)
        return cls(
            eval_env_ids(cfg.env, modes), seed, cfg.frame_stack, cfg.action_repeat,
            cfg.render_size, workers=workers,
        )  # fmt: skip

    def _make(self, env_id: str, seed: int) -> Any:
        args = (env_id, seed, self.frame_stack, self.action_repeat, self.image_size)
        if self.workers == 1:
            return make_env(*args)
        return gym.vector.AsyncVectorEnv(
            [functools.partial(_make_worker_env, *args, slot=j) for j in range(self.workers)],
            context="spawn",  # no fork of a process holding CUDA or GL state
            autoreset_mode=gym.vector.AutoresetMode.DISABLED,
        )

    @property
    def modes(self) -> list[str]:
        return list(self.env_ids)

    def single(self, mode: str) -> gym.Env:
        """An in-process env of ``mode`` (figures need one); made on first use if vectorised."""
        env = self.envs[mode]
        if not isinstance(env, gym.vector.VectorEnv):
            return env
        if mode not in self._singles:
            self._singles[mode] = make_env(
                self.env_ids[mode], self.seed, self.frame_stack, self.action_repeat, self.image_size
            )
        return self._singles[mode]

    def close(self) -> None:
        for env in [*self.envs.values(), *self._singles.values()]:
            env.close()
        self.envs.clear()
        self._singles.clear()


# --- the episodes --------------------------------------------------------------------------


@dataclass
class Episodes:
    """What the episodes of one mode gave, in episode order (None: the env does not say)."""

    returns: list[float]
    successes: list[bool] | None
    videos: list[int] | None
    colors: list[int] | None


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


def evaluate(
    agent: Any,
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
        agent: anything with ``act(obs_batch, sample=False) -> (B, A)``.
        envs: the run's :class:`EvalEnvs`.
        episodes: episodes per mode.
        seed: the run seed (episode seeds derive from it).
        video_dir: if given, the first episode of each mode is written there as an mp4.
        video_name: prefix of the video file names.
        progress: called after every batched step with (agent steps taken, episodes ended).
        check_stop: called after every batched step; raises to abandon the evaluation.
    """
    runs = [_ModeRun(m, envs.envs[m], episodes, seed, video_dir is not None) for m in envs.modes]
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


def evaluate_run(
    agent: Any,
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
    by_mode = evaluate(agent, envs, episodes, seed, video_dir, prefix, progress, check_stop)
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


def eval_env_ids(train_id: str, modes: Sequence[str]) -> dict[str, str]:
    """Env id per mode of ``train_id``'s task."""
    return {mode: eval_env_id(train_id, mode) for mode in modes}


def _write_video(path: Path, frames: list[np.ndarray]) -> None:
    import imageio.v2 as imageio

    if not frames:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    scaled = [f.repeat(_VIDEO_SCALE, 0).repeat(_VIDEO_SCALE, 1) for f in frames]
    with atomic_path(path) as tmp:
        imageio.mimsave(tmp, scaled, fps=15, macro_block_size=1)


# --- saliency figures ----------------------------------------------------------------------


def collect_saliency_observations(
    agent: Any, envs: dict[str, Any], seed: int, at: tuple[int, ...] = _SALIENCY_STEPS
) -> dict[str, list[np.ndarray]]:
    """Observations taken ``at`` these agent steps of one deterministic episode per mode."""
    observations: dict[str, list[np.ndarray]] = {}
    for mode, env in envs.items():
        obs, _ = env.reset(seed=episode_seed(seed, FIGURE, mode), options={"episode": 0})
        chosen = []
        for t in range(max(at) + 1):
            chw = to_chw(obs)
            if t in at:
                chosen.append(chw)
            obs, _, terminated, truncated, _ = env.step(agent.act(chw, sample=False))
            if terminated or truncated:
                break
        observations[mode] = chosen
    return observations


def write_saliency_figure(agent: Any, envs: EvalEnvs, seed: int, path: Path) -> Path:
    """Saliency figure of train and video_hard frames (the modes among ``envs``)."""
    from sgqn.figures import saliency_rows, save_saliency_figure

    modes = [m for m in _SALIENCY_MODES if m in envs.env_ids] or envs.modes[:1]
    chosen = {m: envs.single(m) for m in modes}
    rows = saliency_rows(agent, collect_saliency_observations(agent, chosen, seed))
    return save_saliency_figure(rows, path, title=path.stem)
