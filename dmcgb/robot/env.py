"""RobotEnv: the robot manipulation tasks as a Gymnasium env with image observations."""

from __future__ import annotations

import importlib
import os
import weakref
from functools import partial
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces

from dmcgb import gl_threads, rendering
from dmcgb.actions import check_action, check_int
from dmcgb.modes import IMAGE_SIZE, episode_steps
from dmcgb.robot import EPISODE_LENGTH, scene, task_class
from dmcgb.robot.physics import CONTROL_TIMESTEP, RobotPhysics
from dmcgb.robot.tasks import Task
from dmcgb.robot.variants import get_variant

__all__ = ["RobotEnv", "ACTION_SCALE"]

ACTION_SCALE = 0.05  # m of end-effector x-y displacement per unit of action, per control step


def _use_chosen_gl_backend() -> None:
    """Make MuJoCo's renderer use the backend ``ensure_gl_backend`` picked.

    MuJoCo picks its GL context class when ``mujoco`` is first imported, from ``MUJOCO_GL``.
    If it was imported before the backend was chosen, that pick is stale; reloading the small
    module that holds it applies the choice.
    """
    backend = rendering.ensure_gl_backend()
    from mujoco.rendering.classic import gl_context

    picked_at_import = getattr(gl_context, "_MUJOCO_GL", None)  # None: layout unknown, keep
    if picked_at_import not in (None, os.environ.get("MUJOCO_GL", backend).lower().strip()):
        importlib.reload(gl_context)


class RobotEnv(gym.Env[np.ndarray, np.ndarray]):
    """A Fetch arm on a table, seen by one fixed camera: Reach or PegInBox.

    Observations are RGB images (image_size, image_size, 3) uint8 from the third-person camera;
    the goal is visible only in the image. Actions in [-1, 1]^2 move the gripper in x-y by
    ``ACTION_SCALE`` m per unit and control step. One ``step`` applies the action for
    ``action_repeat`` control steps (40 ms each), sums their rewards and renders once. Episodes
    last ``EPISODE_LENGTH`` (50) control steps, i.e. ``ceil(50 / action_repeat)`` agent steps,
    then end ``truncated``; ``info["is_success"]`` turns true at the first solved control step
    and stays true.

    Args:
        task: a task of ``dmcgb.robot.TASKS``: ``"reach"`` or ``"peg_in_box"``.
        variant: ``"train"`` or ``"test1"`` .. ``"test5"`` (appearance only).
        render_mode: ``None`` or ``"rgb_array"``.
        image_size: side of the observation image, pixels.
        render_size: side of the frames ``render()`` returns, pixels.
        action_repeat: control steps per agent step.

    Raises:
        UnknownTask: `task` or `variant` is not one the env provides.
        ValueError: `render_mode`, `image_size`, `render_size` or `action_repeat` is invalid.

    Example:
        >>> env = RobotEnv("reach", "test2")
        >>> obs, info = env.reset(seed=0)
        >>> obs.shape, obs.dtype, info["is_success"]
        ((84, 84, 3), dtype('uint8'), False)
        >>> env.close()
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": round(1.0 / CONTROL_TIMESTEP)}

    def __init__(
        self,
        task: str,
        variant: str = "train",
        render_mode: str | None = None,
        image_size: int = IMAGE_SIZE,
        render_size: int = 480,
        action_repeat: int = 1,
    ) -> None:
        task_cls = task_class(task)
        self._variant = get_variant(variant)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode: expected None or 'rgb_array', actual value: {render_mode!r}"
            )
        check_int("image_size", image_size)
        check_int("render_size", render_size)
        check_int("action_repeat", action_repeat)
        self.task_name = task
        self.variant = variant
        self.render_mode = render_mode
        self.image_size = int(image_size)
        self.render_size = int(render_size)
        self.action_repeat = int(action_repeat)
        self.max_episode_steps = episode_steps(self.action_repeat, EPISODE_LENGTH)

        self._task: Task = task_cls()
        model = scene.build_model(self._task, self._variant)
        # The offscreen buffer must hold the largest frame we render.
        largest = max(self.image_size, self.render_size)
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, largest)
        model.vis.global_.offheight = max(model.vis.global_.offheight, largest)
        self.physics = RobotPhysics(model, self._task.ee_height)

        self.observation_space = spaces.Box(
            0, 255, (self.image_size, self.image_size, 3), dtype=np.uint8
        )
        self.action_space = spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)

        self._renderers: dict[int, mujoco.Renderer] = {}  # one per frame size, made lazily
        # Frees the GL contexts at close() or, dropped without it, on whichever thread the env
        # dies (see dmcgb.gl_threads); it holds the renderers, never the env.
        self._gl_teardown = partial(_close_renderers, self._renderers)
        weakref.finalize(self, gl_threads.free_gl, self._gl_teardown).atexit = False
        self._steps = 0
        self._success = False
        self._episode_over = True  # until the first reset
        self._last_obs: np.ndarray | None = None

    @property
    def task(self) -> Task:
        """The task object (reward and success logic)."""
        return self._task

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode: arm at its start pose, goal or box at a random place."""
        super().reset(seed=seed)
        self.physics.reset_arm()
        self._task.initialize_episode(self.physics, self.np_random)
        self._steps = 0
        self._success = False
        self._episode_over = False
        self._last_obs = self._render_frame(self.image_size)
        return self._last_obs, {"is_success": False}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Move the gripper by ``ACTION_SCALE * action`` in x-y for ``action_repeat`` control
        steps, summing their rewards, and render once.

        An action outside [-1, 1] is clipped to it: it moves, and is rewarded, exactly as the
        clipped action.

        Raises:
            ValueError: the action holds NaN or infinity (nothing is simulated).
            gymnasium.error.ResetNeeded: no episode is running.
        """
        if self._episode_over:
            raise gym.error.ResetNeeded(
                "step() called before reset() or after the episode ended; call env.reset()"
            )
        action = np.clip(check_action(action, self.action_space), -1.0, 1.0)
        reward = 0.0
        for _ in range(self.action_repeat):
            self.physics.move_end_effector(ACTION_SCALE * action)
            reward += self._task.get_reward(self.physics, action)
            self._success = self._success or self._task.is_solved(self.physics)
        self._steps += 1
        truncated = self._steps >= self.max_episode_steps
        self._episode_over = truncated
        self._last_obs = self._render_frame(self.image_size)
        return self._last_obs, float(reward), False, truncated, {"is_success": self._success}

    def render(self) -> np.ndarray | None:
        """The current camera view, (render_size, render_size, 3) uint8, in ``rgb_array`` mode."""
        if self.render_mode is None:
            gym.logger.warn(
                "render() called without a render_mode; make the env with render_mode='rgb_array'"
            )
            return None
        return self._render_frame(self.render_size)

    def render_segmentation(self, size: int | None = None) -> np.ndarray:
        """Per-pixel (object id, object type) of the camera view, (size, size, 2) int32."""
        with gl_threads.gl_section():
            renderer = self._renderer(size or self.image_size)
            renderer.enable_segmentation_rendering()
            try:
                renderer.update_scene(self.physics.data, camera=scene.CAMERA)
                return renderer.render()
            finally:
                renderer.disable_segmentation_rendering()

    def close(self) -> None:
        """Free the rendering contexts (a later render makes new ones).

        An env dropped without ``close()`` frees the same, on whichever thread it dies.
        """
        gl_threads.free_gl(self._gl_teardown)

    def _renderer(self, size: int) -> mujoco.Renderer:
        if size not in self._renderers:
            _use_chosen_gl_backend()
            rendering.before_gl_context()
            self._renderers[size] = mujoco.Renderer(self.physics.model, size, size)
            rendering.after_gl_context(self)
        return self._renderers[size]

    def _render_frame(self, size: int) -> np.ndarray:
        with gl_threads.gl_section():
            renderer = self._renderer(size)
            renderer.update_scene(self.physics.data, camera=scene.CAMERA)
            return renderer.render()


def _close_renderers(renderers: dict[int, mujoco.Renderer]) -> bool:
    """Close the renderers, each with its own context current (``Renderer.close`` frees its
    MuJoCo context in whichever context is current); always True."""
    for renderer in renderers.values():
        context = getattr(renderer, "_gl_context", None)
        if context is not None:
            context.make_current()
        renderer.close()
    renderers.clear()
    return True
