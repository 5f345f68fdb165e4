"""DMCGBEnv: a dm_control suite task, rendered from pixels, in one DMControl-GB test mode.

One ``step`` is one control step of the dm_control task (action repeat is a wrapper, see
``dmcgb.wrappers.ActionRepeat``). Observations are (H, W, 3) uint8 RGB frames of the
benchmark's camera; in the video modes they are chroma-keyed over a background video whose
frame advances once per rendered observation. In the ``distractingcs`` mode the camera,
colours and a DAVIS video on the skybox change every second control step
(``dmcgb.distracting``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from dmcgb import data
from dmcgb.chroma_key import chroma_key
from dmcgb.distracting import DOMAINS as DISTRACTING_DOMAINS
from dmcgb.distracting import (
    INTENSITIES,
    Distractions,
    check_intensity,
    mode_name,
    parse_mode_name,
)
from dmcgb.errors import UnknownTask
from dmcgb.modes import IMAGE_SIZE, KEY_RGB, MODES, Mode
from dmcgb.rendering import ensure_gl_backend
from dmcgb.tasks import TASKS, camera_id
from dmcgb.video import VIDEO_CACHE

__all__ = ["DMCGBEnv"]

_RENDER_SIZE = 480  # pixels, the default height and width of render() frames


class DMCGBEnv(gym.Env[np.ndarray, np.ndarray]):
    """A DMControl-GB environment.

    Args:
        task: CamelCase task name, e.g. ``"WalkerWalk"`` (see ``dmcgb.TASKS``).
        mode: ``train``, ``coloreasy``, ``colorhard``, ``videoeasy``, ``videohard``, or
            ``distractingcs`` (with ``intensity``) / ``distractingcs<intensity>``
            (``distractingcs0.1``) for the tasks of the Distracting Control Suite's domains.
        render_mode: None or ``"rgb_array"`` (``render()`` returns larger composited frames).
        image_size: observation height and width in pixels.
        render_size: height and width of ``render()`` frames.
        intensity: distractingcs only: one of ``dmcgb.distracting.INTENSITIES``.
        davis_dir: distractingcs only: a DAVIS 2017 folder (holding ``JPEGImages/480p``) to use
            instead of the data cache (``python -m dmcgb.data fetch davis``).
        davis_videos: distractingcs only: ``"train"`` (the benchmark's) or ``"val"`` DAVIS list.

    Attributes:
        defer_render: while True, ``step`` skips rendering (and returns the previous
            observation) unless the step ends the episode. ``ActionRepeat`` sets it so that an
            agent step renders once.

    Example:
        >>> import gymnasium as gym, dmcgb
        >>> env = gym.make("dmcgb/WalkerWalk-train-v0")
        >>> obs, info = env.reset(seed=0)
        >>> obs.shape, obs.dtype
        ((84, 84, 3), dtype('uint8'))

    Change logs:
        v0: initial version.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(
        self,
        task: str,
        mode: str = "train",
        render_mode: str | None = None,
        image_size: int = IMAGE_SIZE,
        render_size: int = _RENDER_SIZE,
        intensity: float | None = None,
        davis_dir: str | Path | None = None,
        davis_videos: str = "train",
    ) -> None:
        if task not in TASKS:
            raise UnknownTask(f"unknown task {task!r}; expected one of {sorted(TASKS)}")
        distracting, intensity = _distracting_mode(task, mode, intensity)
        if mode not in MODES and not distracting:
            raise UnknownTask(
                f"unknown mode {mode!r}; expected one of {list(MODES)} or distractingcs<intensity>"
            )
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', actual value: {render_mode!r}")
        if image_size < 1 or render_size < 1:
            raise ValueError(f"image sizes must be positive, actual values: {image_size}, {render_size}")

        ensure_gl_backend()
        from dm_control import suite

        from dmcgb.scene import SceneColors

        self.task = task
        self.mode: Mode = Mode(mode_name(intensity), "distracting_cs") if distracting else MODES[mode]
        self.intensity = intensity
        self.render_mode = render_mode
        self.image_size = image_size
        self.render_size = render_size
        self.defer_render = False

        domain, task_name = TASKS[task]
        self._dm_env = suite.load(domain, task_name, task_kwargs={"random": None})
        physics = self._dm_env.physics
        self._camera_id = camera_id(domain)
        self._cameras: dict[int, Any] = {}  # size -> dm_control Camera, made at first render
        self._scene = SceneColors(physics)
        if self.mode.keyed_textures:
            textures: dict[str, dict[str, tuple[float, ...]]] = {}
            for texture, attribute in self.mode.keyed_textures:
                textures.setdefault(texture, {})[attribute] = KEY_RGB
            self._scene.apply(textures)
        self._colors = data.load_colors(self.mode.benchmark_name) if self.mode.colors else None

        spec = self._dm_env.action_spec()
        self.action_space = spaces.Box(
            spec.minimum.astype(np.float32), spec.maximum.astype(np.float32), dtype=np.float32
        )
        self.observation_space = spaces.Box(0, 255, (image_size, image_size, 3), np.uint8)

        self._color_rng = np.random.RandomState()
        self._episode = 0
        self._color_index: int | None = None
        self._video_index: int | None = None
        self._videos: dict[int, np.ndarray] = {}
        self._background_frame = 0
        self._last_obs: np.ndarray | None = None
        # distractingcs: the engine (made at the first reset, which finds the DAVIS folder), the
        # seed its episodes follow (fresh entropy until a seeded reset) and its arguments.
        self._distractions: Distractions | None = None
        self._distraction_seed = int(np.random.SeedSequence().entropy) if distracting else 0
        self._distraction_episode = -1
        self._davis = (davis_dir, davis_videos) if distracting else None

    # ------------------------------------------------------------------ Gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None:
            # The task's initial state and the colour draws use their own RandomStates seeded
            # with the env seed, as in DMControl-GB; the episode sequence restarts.
            self._dm_env.task._random = np.random.RandomState(seed)
            self._color_rng = np.random.RandomState(seed)
            self._distraction_seed = seed
            self._episode = 0
        self._episode += 1
        if self._colors is not None:
            self._color_index = int(self._color_rng.randint(len(self._colors)))
            self._scene.apply_setting(self._colors[self._color_index])
        if self.mode.videos:
            self._start_video()
        self._dm_env.reset()
        if self._davis is not None:
            self._reset_distractions(seed, options)
        self._last_obs = self._observe()
        return self._last_obs, self._info()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._last_obs is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        time_step = self._dm_env.step(action)
        if self._distractions is not None:
            self._distractions.after_control_step()
        reward = float(time_step.reward or 0.0)
        ended = time_step.last()
        # dm_control ends an episode with discount 0 on a true termination and with discount 1
        # at its time limit, which is a truncation.
        terminated = bool(ended and time_step.discount == 0.0)
        truncated = bool(ended and not terminated)
        if not self.defer_render or ended:
            self._background_frame += 1
            self._last_obs = self._observe()
            obs = self._last_obs
        else:
            obs = self._last_obs.copy()  # a stale frame: the caller only keeps the last one
        return obs, reward, terminated, truncated, self._info()

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        return self._render(self.render_size)

    def close(self) -> None:
        for camera in getattr(self, "_cameras", {}).values():
            camera._scene.free()
        self._cameras = {}
        super().close()

    # ------------------------------------------------------------------ internals

    @property
    def physics(self):
        """The dm_control ``Physics`` of the task."""
        return self._dm_env.physics

    def _info(self) -> dict[str, Any]:
        info: dict[str, Any] = {}
        if self._color_index is not None:
            info["color_index"] = self._color_index
        if self._video_index is not None:
            info["video_index"] = self._video_index
            info["video_frame"] = self._background_frame
        if self._distractions is not None:
            info.update(self._distractions.info())
        return info

    def _reset_distractions(self, seed: int | None, options: dict[str, Any] | None) -> None:
        # Episode k (0 first) of the sequence that the last seeded reset started; the option
        # "episode" jumps to episode k, and the resets after it continue from there.
        if options and "episode" in options:
            episode = options["episode"]
            if not isinstance(episode, (int, np.integer)) or episode < 0:
                raise ValueError(f"options['episode'] must be an int >= 0, actual value: {episode!r}")
            self._distraction_episode = int(episode)
        elif seed is not None:
            self._distraction_episode = 0
        else:
            self._distraction_episode += 1
        if self._distractions is None:
            davis_dir, videos = self._davis
            folder = Path(davis_dir) if davis_dir is not None else data.davis_dir()
            domain = TASKS[self.task].domain
            self._distractions = Distractions(
                self.physics, domain, self.intensity, folder, videos, self._camera_id
            )
        self._distractions.reset(self._distraction_seed, self._distraction_episode)

    def _start_video(self) -> None:
        # Episode k after construction (or after a seeded reset) shows video k mod n.
        n = self.mode.videos
        self._video_index = self._episode % n
        self._background_frame = 0
        sizes = {self.image_size} | ({self.render_size} if self.render_mode else set())
        self._videos = {size: self._load_video(self._video_index, size) for size in sizes}
        next_name = data.video_asset(self.mode.benchmark_name, (self._episode + 1) % n)
        next_path = data.data_dir() / next_name
        if next_path.is_file():
            for size in sizes:
                VIDEO_CACHE.prefetch(next_path, size, size)

    def _load_video(self, index: int, size: int) -> np.ndarray:
        path = data.ensure(data.video_asset(self.mode.benchmark_name, index))
        return VIDEO_CACHE.get(path, size, size)

    def _camera(self, size: int):
        # Created lazily: no GL context exists until the env renders (see SceneColors.upload).
        if size not in self._cameras:
            from dm_control.mujoco import Camera

            self._cameras[size] = Camera(self.physics, size, size, self._camera_id)
        return self._cameras[size]

    def _render(self, size: int) -> np.ndarray:
        self._scene.upload()
        if self._distractions is not None:
            self._distractions.before_render()
        frame = self._camera(size).render()  # a view of the camera's buffer
        if self.mode.videos:
            video = self._videos[size]
            return chroma_key(frame, video[self._background_frame % len(video)])
        return frame.copy()

    def _observe(self) -> np.ndarray:
        return self._render(self.image_size)


def _distracting_mode(task: str, mode: str, intensity: float | None) -> tuple[bool, float | None]:
    """(is ``mode`` distractingcs, its intensity), checking the task and the intensity."""
    try:
        distracting, named = parse_mode_name(mode)
    except ValueError as exc:
        raise UnknownTask(f"unknown mode {mode!r}: {exc}") from exc
    if not distracting:
        if intensity is not None:
            raise ValueError(f"intensity is an argument of the distractingcs modes only, not {mode!r}")
        return False, None
    if TASKS[task].domain not in DISTRACTING_DOMAINS:
        supported = sorted(t for t, spec in TASKS.items() if spec.domain in DISTRACTING_DOMAINS)
        raise UnknownTask(
            f"the distractingcs modes support the tasks {supported} (the Distracting Control "
            f"Suite's domains), not {task!r}"
        )
    if intensity is None and named is None:
        raise ValueError(
            f"the distractingcs mode needs an intensity: pass intensity=0.1 (one of "
            f"{', '.join(map(str, INTENSITIES))}) or use an id that names it, e.g. "
            f"dmcgb/{task}-{mode_name(0.1)}-v0"
        )
    if intensity is not None and named is not None and check_intensity(intensity) != named:
        raise ValueError(f"the mode {mode!r} has intensity {named}, but intensity={intensity!r}")
    return True, check_intensity(intensity if intensity is not None else named)
