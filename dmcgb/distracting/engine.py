"""Distractions: camera, colour and DAVIS background of one dm_control physics, over episodes.

The env drives it with three calls, in this order:

- ``reset(seed, episode)`` after the physics reset: draws the episode's camera, colours and
  background sequence. Every draw of the episode (also those made at later changes) comes
  from generators seeded by ``(seed, episode)`` alone, one independent stream per distraction,
  so an episode is reproducible by itself.
- ``after_control_step()`` after each control step (each physics step of the task): every
  ``UPDATE_PERIOD`` (2) control steps since reset, all three distractions change, whatever
  the action repeat.
- ``before_render()`` right before rendering: writes the camera pose into the physics data
  (each physics step recomputes it) and uploads the skybox frame if it changed.

DMControl-GB applies the camera pose only when it changes, so after an odd control step it
renders the undistorted camera; with an even action repeat (the benchmark's 2, 4 and 8) it
never renders there, and here every render shows the distracted camera.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dmcgb.distracting import background as bg
from dmcgb.distracting.camera import (
    CameraRange,
    CameraState,
    camera_pose,
    camera_range,
    draw_walk_noise,
    look_at_point,
    sample_camera,
    walk_camera,
)
from dmcgb.distracting.color import color_bounds, sample_colors, walk_colors
from dmcgb.distracting.settings import UPDATE_PERIOD, Settings, distraction_settings

__all__ = ["Distractions"]

_AGENT_BODY = 1  # the suite centres tracking cameras on the subtree of body 1
_GROUND_MATERIAL = "grid"
# Independent random streams of an episode, by distraction.
_CAMERA_STREAM, _COLOR_STREAM, _BACKGROUND_STREAM = 0, 1, 2


@dataclass
class _Episode:
    """Everything drawn or reached in one episode."""

    camera_rng: np.random.Generator
    color_rng: np.random.Generator
    bounds: CameraRange
    camera: CameraState
    target: np.ndarray  # (3,) look-at point of a fixed camera, set at reset
    pose: tuple[np.ndarray, np.ndarray]  # world (position, orientation) to render from
    colors: np.ndarray  # (n_materials, 3)
    video: int  # index into the sequence list
    frame: int
    direction: int
    control_steps: int = 0


class Distractions:
    """The Distracting Control Suite's distractions, as DMControl-GB configures them.

    Args:
        physics: the dm_control physics of a suite task in ``settings.DOMAINS``.
        domain: its dm_control domain name.
        intensity: one of ``settings.INTENSITIES``.
        davis_dir: the DAVIS 2017 folder holding ``JPEGImages/480p/<sequence>/``.
        videos: ``"train"`` (the benchmark's) or ``"val"`` sequence list.
        camera_id: the rendered camera (the suite reads the mode of camera 0).

    Raises:
        ValueError: unsupported domain or intensity, or a camera mode the suite cannot move.
        MissingData: a sequence of the list has no frames under ``davis_dir``.
    """

    def __init__(
        self,
        physics,
        domain: str,
        intensity: float,
        davis_dir: Path,
        videos: str = "train",
        camera_id: int = 0,
    ) -> None:
        import mujoco

        self.settings: Settings = distraction_settings(domain, intensity)
        self.video_names = bg.video_names(videos, intensity)
        self._frames = [bg.frame_paths(davis_dir, name) for name in self.video_names]
        self._physics = physics
        model = physics.model
        # The suite reads camera 0's mode, whichever camera renders.
        mode = mujoco.mjtCamLight(int(model.cam_mode[0]))
        fixed, trackcom = (
            mujoco.mjtCamLight.mjCAMLIGHT_FIXED,
            mujoco.mjtCamLight.mjCAMLIGHT_TRACKCOM,
        )
        if mode not in (fixed, trackcom):
            raise ValueError(
                f"the camera distraction needs a fixed or trackcom camera 0, not {mode.name}"
            )
        self._tracking = mode == trackcom
        self._camera_id = camera_id
        self._ground = mujoco.mj_name2id(model.ptr, mujoco.mjtObj.mjOBJ_MATERIAL, _GROUND_MATERIAL)
        self._original_rgb = model.mat_rgba[:, :3].copy()
        self._low, self._high = color_bounds(self._original_rgb, self.settings.color.max_delta)
        self._skybox = bg.SkyboxTexture(physics)
        self._episode: _Episode | None = None
        self._shown: tuple[int, int] | None = None  # (video, frame) on the skybox now

    # ----------------------------------------------------------------- the env's three calls

    def reset(self, seed: int, episode: int) -> None:
        """Draw episode ``episode`` of the sequence seeded by ``seed``; call after the physics
        reset (the undistorted camera must be where the task put it)."""
        camera_rng, color_rng, background_rng = (
            np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(episode, stream)))
            for stream in (_CAMERA_STREAM, _COLOR_STREAM, _BACKGROUND_STREAM)
        )
        model = self._physics.model
        if self._ground >= 0:
            model.mat_rgba[self._ground, 3] = self.settings.background.ground_plane_alpha

        position, orientation, centre = self._undistorted_camera()
        start = position - centre if self._tracking else position
        cfg = self.settings.camera
        bounds = camera_range(start, cfg)
        camera = sample_camera(camera_rng, bounds, cfg)
        target = look_at_point(position, orientation, centre)

        colors = sample_colors(color_rng, self._low, self._high)
        model.mat_rgba[:, :3] = colors

        video = int(background_rng.integers(len(self.video_names)))
        frame = int(background_rng.integers(len(self._frames[video])))
        direction = int(background_rng.choice((-1, 1)))

        self._episode = _Episode(
            camera_rng=camera_rng,
            color_rng=color_rng,
            bounds=bounds,
            camera=camera,
            target=target,
            pose=(position, orientation),
            colors=colors,
            video=video,
            frame=frame,
            direction=direction,
        )
        self._move_camera()  # the suite takes one camera step at reset
        self._shown = None

    def after_control_step(self) -> None:
        """Count a control step; every ``UPDATE_PERIOD``-th one changes every distraction."""
        ep = self._require_episode()
        ep.control_steps += 1
        if ep.control_steps % UPDATE_PERIOD:
            return
        self._move_camera()
        noise = ep.color_rng.standard_normal(ep.colors.shape)
        ep.colors = walk_colors(
            ep.colors, noise, self.settings.color.step_std, self._low, self._high
        )
        self._physics.model.mat_rgba[:, :3] = ep.colors
        count = len(self._frames[ep.video])
        ep.frame, ep.direction = bg.next_frame(ep.frame, ep.direction, count)

    def before_render(self) -> None:
        """Put the distracted camera into the physics data and the current frame on the sky."""
        ep = self._require_episode()
        position, orientation = ep.pose
        data = self._physics.data
        data.cam_xpos[self._camera_id] = position
        data.cam_xmat[self._camera_id] = orientation.reshape(-1)
        if self._shown != (ep.video, ep.frame):
            frame = bg.load_frame(self._frames[ep.video][ep.frame])
            self._skybox.show(bg.skybox_texture(frame))
            self._shown = (ep.video, ep.frame)

    # ----------------------------------------------------------------- state, for info and tests

    def info(self) -> dict[str, Any]:
        """What the episode shows: ``video_index`` (in the split's list), ``davis_video``,
        ``video_frame``."""
        ep = self._require_episode()
        return {
            "video_index": ep.video,
            "davis_video": self.video_names[ep.video],
            "video_frame": ep.frame,
        }

    @property
    def camera(self) -> CameraState:
        """The camera's current spherical state."""
        return self._require_episode().camera

    @property
    def camera_bounds(self) -> CameraRange:
        """The episode's camera ranges."""
        return self._require_episode().bounds

    @property
    def pose(self) -> tuple[np.ndarray, np.ndarray]:
        """The world ((3,) position, (3, 3) orientation) the next render uses."""
        return self._require_episode().pose

    @property
    def colors(self) -> np.ndarray:
        """(n_materials, 3) current material RGB."""
        return self._require_episode().colors

    @property
    def color_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) of every material's RGB."""
        return self._low, self._high

    @property
    def control_steps(self) -> int:
        """Control steps since the last reset."""
        return self._require_episode().control_steps

    def frame_path(self) -> Path:
        """The DAVIS frame the skybox shows (or will show at the next render)."""
        ep = self._require_episode()
        return self._frames[ep.video][ep.frame]

    def skybox_pixels(self) -> np.ndarray:
        """The flat skybox texture in the model now."""
        return self._skybox.pixels()

    # ----------------------------------------------------------------- internals

    def _require_episode(self) -> _Episode:
        if self._episode is None:
            raise RuntimeError("call Distractions.reset() first")
        return self._episode

    def _undistorted_camera(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(position, orientation, agent centre) as the physics computed them last."""
        data = self._physics.data
        return (
            data.cam_xpos[self._camera_id].copy(),
            data.cam_xmat[self._camera_id].reshape(3, 3).copy(),
            data.subtree_com[_AGENT_BODY].copy(),
        )

    def _move_camera(self) -> None:
        ep = self._require_episode()
        noise, roll_noise = draw_walk_noise(ep.camera_rng)
        cfg = self.settings.camera
        ep.camera = walk_camera(ep.camera, noise, roll_noise, ep.bounds, cfg)
        if self._tracking:
            # Around the agent's centre now, looking where the tracking camera looks now.
            position, orientation, centre = self._undistorted_camera()
            target, origin = look_at_point(position, orientation, centre), centre
        else:
            target, origin = ep.target, np.zeros(3)
        ep.pose = camera_pose(ep.camera, target, origin, cfg.upper_quadrant)
