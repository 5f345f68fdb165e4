"""DMCGBEnv: a dm_control suite task, rendered from pixels, in one DMControl-GB test mode.

One ``step`` is one agent step: the action is applied for ``action_repeat`` control steps of
the dm_control task, their rewards are summed, and one observation is rendered, as the
benchmark's dmc2gym does. Observations are (H, W, 3) uint8 RGB frames of the benchmark's
camera; in the video modes they are chroma-keyed over a background video whose frame advances
once per agent step. An episode lasts ``ceil(1000 / action_repeat)`` agent steps.

The episode sequence (what ``reset`` shows):

* ``reset(seed=s)`` seeds the initial states and the colour draws and restarts the sequence;
  ``reset()`` continues it; ``reset(seed=s, options={"episode": k})`` seeds as well and makes
  the episode the k-th (k = 0 first) of the sequence.
* The k-th episode after seeding shows video ``(k + 1) mod n``, as in the benchmark, whose
  video wrapper advances its index before loading a video and is seeded once.
* Colour modes draw one of the 100 settings per reset from a ``RandomState`` seeded with the
  env seed (the benchmark's ``randint(100)``); the episode option does not change the draws.
"""

from __future__ import annotations

import weakref
from concurrent.futures import Future
from functools import partial
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from dmcgb import data, gl_threads, rendering
from dmcgb.actions import check_action, check_int
from dmcgb.chroma_key import chroma_key
from dmcgb.errors import UnknownTask
from dmcgb.modes import IMAGE_SIZE, KEY_RGB, MODES, Mode, episode_steps
from dmcgb.tasks import TASKS, camera_id
from dmcgb.versions import check_dm_control_matches_mujoco
from dmcgb.video import VIDEO_CACHE, FrameStream, frame_count, read_frames

__all__ = ["DMCGBEnv"]

_RENDER_SIZE = 480  # pixels, the default height and width of render() frames


class DMCGBEnv(gym.Env[np.ndarray, np.ndarray]):
    """A DMControl-GB environment.

    Args:
        task: CamelCase task name, e.g. ``"WalkerWalk"`` (see ``dmcgb.TASKS``).
        mode: ``train``, ``coloreasy``, ``colorhard``, ``videoeasy`` or ``videohard``.
        render_mode: None or ``"rgb_array"`` (``render()`` returns larger composited frames).
        image_size: observation height and width in pixels.
        render_size: height and width of ``render()`` frames.
        action_repeat: control steps per agent step (the benchmark's frame skip).

    Example:
        >>> import gymnasium as gym, dmcgb
        >>> env = gym.make("dmcgb/WalkerWalk-videohard-v0", action_repeat=4)
        >>> obs, info = env.reset(seed=0)
        >>> obs.shape, obs.dtype, info["video_index"]
        ((84, 84, 3), dtype('uint8'), 1)

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
        action_repeat: int = 1,
    ) -> None:
        if task not in TASKS:
            raise UnknownTask(f"unknown task {task!r}; expected one of {sorted(TASKS)}")
        if mode not in MODES:
            raise UnknownTask(f"unknown mode {mode!r}; expected one of {list(MODES)}")
        if not MODES[mode].has_domain(TASKS[task].domain):
            raise UnknownTask(
                f"the {mode!r} mode is defined for the domains {MODES[mode].domains}, not for "
                f"{task!r} ({TASKS[task].domain})"
            )
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', actual value: {render_mode!r}")
        check_int("image_size", image_size)
        check_int("render_size", render_size)
        check_int("action_repeat", action_repeat)

        rendering.ensure_gl_backend()
        check_dm_control_matches_mujoco()
        from dm_control import suite

        from dmcgb.scene import SceneColors

        self.task = task
        self.mode: Mode = MODES[mode]
        self.render_mode = render_mode
        self.image_size = int(image_size)
        self.render_size = int(render_size)
        self.action_repeat = int(action_repeat)
        self.max_episode_steps = episode_steps(self.action_repeat)

        domain, task_name = TASKS[task]
        # No time limit in dm_control: the episode is cut here, by agent steps, as the
        # benchmark's dmc2gym does (time_limit=1e6 there, and a gym TimeLimit).
        self._dm_env = suite.load(
            domain, task_name, task_kwargs={"random": None, "time_limit": float("inf")}
        )
        physics = self._dm_env.physics
        self._camera_id = camera_id(domain)
        self._cameras: dict[int, Any] = {}  # size -> dm_control Camera, made at first render
        # Frees the GL contexts at close() or, dropped without it, on whichever thread the env
        # dies (see dmcgb.gl_threads); it holds the physics and cameras, never the env.
        self._gl_teardown = partial(_free_rendering, physics, self._cameras)
        weakref.finalize(self, gl_threads.free_gl, self._gl_teardown).atexit = False
        self._scene = SceneColors(physics)
        if self.mode.keyed_textures:
            textures: dict[str, dict[str, tuple[float, ...]]] = {}
            for texture, attribute in self.mode.keyed_textures:
                textures.setdefault(texture, {})[attribute] = KEY_RGB
            self._scene.apply(textures)
        self._colors = data.load_colors(self.mode.benchmark_name) if self.mode.colors else None
        self._num_videos = self.mode.videos
        self._video_lengths: dict[int, int] = {}  # by video index, found once per env

        spec = self._dm_env.action_spec()
        self.action_space = spaces.Box(
            spec.minimum.astype(np.float32), spec.maximum.astype(np.float32), dtype=np.float32
        )
        self.observation_space = spaces.Box(0, 255, (image_size, image_size, 3), np.uint8)
        self._action_bounds = (spec.minimum, spec.maximum)  # float64, the actuators' ranges

        self._color_rng = np.random.RandomState()
        self._episode = -1  # k of the current episode in the sequence since the last seed
        self._steps = 0
        self._episode_over = True
        self._color_index: int | None = None
        self._video_index: int | None = None
        self._background_frame = 0
        # Futures of decoded backgrounds (see dmcgb.video.VIDEO_CACHE): this episode's, the
        # next episode's (decoded in the background) and episode 0's (a re-seeded reset).
        self._background: Future | None = None
        self._held: dict[str, Future] = {}
        self._render_stream: FrameStream | None = None
        self._last_obs: np.ndarray | None = None

    # ------------------------------------------------------------------ Gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode.

        Args:
            seed: seeds the initial state and the colour draws, and restarts the sequence.
            options: ``{"episode": k}`` makes this the k-th episode (k >= 0) of the sequence.

        Raises:
            ValueError: an ``episode`` option that is not an int >= 0.
            dmcgb.errors.MissingData, ChecksumError, CorruptData: the mode's data.
        """
        super().reset(seed=seed)
        episode = (options or {}).get("episode")
        if episode is not None:
            check_int("options['episode']", episode, minimum=0)
        if seed is not None:
            # The task's initial state and the colour draws use their own RandomStates seeded
            # with the env seed, as in DMControl-GB.
            self._dm_env.task._random = np.random.RandomState(seed)
            self._color_rng = np.random.RandomState(seed)
        if episode is not None:
            self._episode = int(episode)
        elif seed is not None:
            self._episode = 0
        else:
            self._episode += 1
        if self._colors is not None:
            self._color_index = int(self._color_rng.randint(len(self._colors)))
            self._scene.apply_setting(self._colors[self._color_index])
        if self._num_videos:
            self._start_video()
        self._dm_env.reset()
        self._start_episode(seed, self._episode)
        self._steps = 0
        self._episode_over = False
        self._last_obs = self._observe()
        return self._last_obs, self._info()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply ``action`` for ``action_repeat`` control steps and render once.

        An action outside ``action_space`` is clipped to its bounds, as MuJoCo clamps each
        actuator's control to its range: it moves, and is rewarded, exactly as the clipped
        action (also where the task's reward reads the control).

        Raises:
            ValueError: the action holds NaN or infinity (nothing is simulated).
            gymnasium.error.ResetNeeded: no episode is running.
        """
        if self._episode_over:
            raise gym.error.ResetNeeded("step() called before reset() or after the episode ended")
        action = np.clip(check_action(action, self.action_space), *self._action_bounds)
        reward = 0.0
        for _ in range(self.action_repeat):
            time_step = self._dm_env.step(action)
            self._after_control_step()
            reward += time_step.reward or 0.0
            if time_step.last():  # a termination: dm_control has no time limit here
                break
        self._steps += 1
        terminated = bool(time_step.last() and time_step.discount == 0.0)
        truncated = not terminated and self._steps >= self.max_episode_steps
        self._episode_over = terminated or truncated
        self._background_frame += 1
        self._last_obs = self._observe()
        return self._last_obs, float(reward), terminated, truncated, self._info()

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        if self._num_videos and self._background is None:
            raise gym.error.ResetNeeded("call reset() before render(): it picks the background")
        return self._render(self.render_size)

    def close(self) -> None:
        """Free the rendering contexts and the render video stream; the env is done after.

        An env dropped without ``close()`` frees the same, on whichever thread it dies.
        """
        if hasattr(self, "_gl_teardown"):
            gl_threads.free_gl(self._gl_teardown)
        if getattr(self, "_render_stream", None) is not None:
            self._render_stream.close()
        self._held, self._background = {}, None
        super().close()

    # ------------------------------------------------------------------ hooks for subclasses
    # A mode that changes more than colours and the background (see ``dmcgb.modes``) is a
    # subclass named in its ``Mode.entry_point``; it overrides these, which do nothing here.

    def _start_episode(self, seed: int | None, episode: int) -> None:
        """Called by ``reset`` after the task's reset, before the first observation.

        Args:
            seed: the reset's seed, or None when the episode sequence continues.
            episode: k, this episode's place in the sequence since the last seeded reset.
        """

    def _after_control_step(self) -> None:
        """Called after every control step (``action_repeat`` times per ``step``)."""

    def _before_render(self) -> None:
        """Called before every rendered frame."""

    def _episode_info(self) -> dict[str, Any]:
        """Entries added to every ``info``."""
        return {}

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
        info.update(self._episode_info())
        return info

    def video_index(self, episode: int) -> int:
        """The video the ``episode``-th episode after seeding shows (the benchmark's order)."""
        return (episode + 1) % self._num_videos

    def _start_video(self) -> None:
        self._video_index = self.video_index(self._episode)
        self._background_frame = 0
        wanted = {
            "current": (self._video_index, False),
            "next": (self.video_index(self._episode + 1), True),
            "first": (self.video_index(0), True),
        }
        self._held = {role: self._request(i, background) for role, (i, background) in wanted.items()}
        self._background = self._held["current"]
        self._video_length = self._video_frames(self._video_index)
        self._background.result()  # raises here if the video is missing or damaged
        if self.render_mode is not None:
            if self._render_stream is not None:
                self._render_stream.close()
            name = data.video_asset(self.mode.benchmark_name, self._video_index)
            self._render_stream = FrameStream(
                data.verified(name), self.render_size, f"run `{data.fetch_command_for(name)}`"
            )

    def _request(self, index: int, background: bool) -> Future:
        """The shared future of video ``index``'s frames that an episode can show."""
        name = data.video_asset(self.mode.benchmark_name, index)
        # An episode shows frames 0..max_episode_steps (the reset frame, then one per step),
        # indexed modulo the video's length, so it never needs more than either.
        count = min(self._video_frames(index), self.max_episode_steps + 1)
        key = (name, str(data.data_dir()), self.image_size, count)
        # The job gets plain values, never the env: a worker thread holding the env would be
        # where its last reference dies, finalizing it there.
        load = partial(_decode_video, name, self.image_size, count)
        return VIDEO_CACHE.request(key, load, background)

    def _video_frames(self, index: int) -> int:
        """The length of video ``index``: the manifest's, else what its container declares."""
        if index not in self._video_lengths:
            name = data.video_asset(self.mode.benchmark_name, index)
            frames = data.ASSETS[name].frames
            if frames is None:  # not in the manifest: trust the container, as the benchmark does
                frames = frame_count(data.verified(name))
            self._video_lengths[index] = frames
        return self._video_lengths[index]

    def _background_image(self, size: int) -> np.ndarray:
        index = self._background_frame % self._video_length
        if size == self.image_size:
            assert self._background is not None
            return self._background.result()[index]
        assert self._render_stream is not None
        return self._render_stream.frame(index)

    def _camera(self, size: int):
        # Created lazily: no GL context exists until the env renders (see SceneColors.upload).
        if size not in self._cameras:
            from dm_control.mujoco import Camera

            rendering.before_gl_context()
            self._cameras[size] = Camera(self.physics, size, size, self._camera_id)
            rendering.after_gl_context(self)
        return self._cameras[size]

    def _render(self, size: int) -> np.ndarray:
        with gl_threads.gl_section():
            camera = self._camera(size)
            self._before_render()
            self._scene.upload()
            frame = camera.render()  # a view of the camera's buffer
        if self._num_videos:
            return chroma_key(frame, self._background_image(size))
        return frame.copy()

    def _observe(self) -> np.ndarray:
        return self._render(self.image_size)


def _decode_video(name: str, size: int, count: int) -> np.ndarray:
    """The first ``count`` frames of the data asset ``name``, resized to ``size``."""
    fix = f"delete it and run `{data.fetch_command_for(name)}`"
    return read_frames(data.verified(name), size, count, fix)


def _free_rendering(physics: Any, cameras: dict[int, Any]) -> bool:
    """Free the cameras' scenes and the physics' GL contexts (at most once; the physics is
    unusable after). False, freeing nothing, while the context is current on another thread."""
    contexts = physics._contexts  # None until the env first rendered (.contexts would make them)
    if contexts is not None and gl_threads.bound_elsewhere(contexts.gl):
        return False
    for camera in cameras.values():
        camera._scene.free()
    cameras.clear()
    physics.free()
    return True
