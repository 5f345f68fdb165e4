"""The numbers of DMControl-GB's Distracting Control Suite mode, by intensity and domain.

Every value comes from DMControl-GB at commit ff9c0aa (``src/env/distracting_control/``,
adapted from Stone et al., 2021, google-research ``distracting_control/``), which loads the
suite with ``dynamic=True`` (``src/env/dmc2gym/dmc2gym/wrappers.py``):

- ``suite_utils.DIFFICULTY_NUM_VIDEOS``: the eight intensities and the DAVIS videos each uses.
- ``suite_utils.get_camera_kwargs``: camera ranges and velocities, linear in the intensity.
- ``suite_utils.get_color_kwargs``: colour range and random-walk step, linear in the intensity.
- ``suite_utils.get_background_kwargs``: the floor's alpha per domain.
- ``camera.py``, ``color.py``, ``background.py``: every change happens when the control-step
  count since reset is even (``self._frame_count % 2 == 0``), half the original suite's rate,
  "to account for action repeat" (DMControl-GB's README).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "INTENSITIES",
    "DOMAINS",
    "UPDATE_PERIOD",
    "SKYBOX_SIZE",
    "CameraSettings",
    "ColorSettings",
    "BackgroundSettings",
    "Settings",
    "check_intensity",
    "num_videos",
    "camera_settings",
    "color_settings",
    "background_settings",
    "distraction_settings",
]

INTENSITIES: tuple[float, ...] = (0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)
"""The intensities DMControl-GB implements and evaluates (its ``DIFFICULTY_NUM_VIDEOS`` keys)."""

# Intensity -> how many DAVIS videos (the first n of the split's list); None: all of them.
_NUM_VIDEOS: dict[float, int | None] = {
    0.025: 2,
    0.05: 2,
    0.1: 4,
    0.15: 6,
    0.2: 8,
    0.3: None,
    0.4: None,
    0.5: None,
}

DOMAINS: tuple[str, ...] = ("reacher", "cartpole", "finger", "cheetah", "ball_in_cup", "walker")
"""The dm_control domains the suite supports (its ``get_camera_kwargs`` asserts these)."""

UPDATE_PERIOD = 2  # control steps between two changes of each distraction (the original: 1)
SKYBOX_SIZE = 800  # px: the skybox texture becomes one 800x800 image, shown on all six faces

_CAMERA_ANGLE = math.pi / 2  # rad per unit intensity: horizontal, vertical and roll range
_CAMERA_VEL_STD = 0.1  # m per change per unit intensity (times radius / 4)
_CAMERA_MAX_VEL = 0.4  # m per change per unit intensity (times radius / 4 for the walk)
_CAMERA_ROLL_STD = math.pi / 300  # rad per change per unit intensity
_CAMERA_MAX_ROLL_VEL = math.pi / 50  # rad per change per unit intensity
_CAMERA_ZOOM_IN = 0.5  # fraction of the start radius per unit intensity
_CAMERA_ZOOM_OUT = 1.5  # fraction of the start radius per unit intensity
_COLOR_STEP_STD = 0.03  # RGB units per change per unit intensity


@dataclass(frozen=True)
class CameraSettings:
    """Camera pose distraction (all angles in radians).

    Attributes:
        horizontal_delta: azimuth range, +- around the start.
        vertical_delta: polar-angle range, +- around the start.
        roll_delta: roll range, +- around 0.
        vel_std: std of the velocity random walk per change, times radius / 4.
        max_vel: largest velocity: initial speed ~ U(0, max_vel); the walk clips the speed at
            max_vel * radius / 4.
        roll_std: std of the roll-velocity random walk per change.
        max_roll_vel: largest roll velocity.
        max_zoom_in: the radius may shrink by this fraction of the start radius.
        max_zoom_out: the radius may grow by this fraction of the start radius.
        upper_quadrant: keep the camera in the upper quadrant facing the scene (polar angle in
            [0, pi/2], azimuth in [-pi, 0]) and never roll the look-at; False for reacher.
    """

    horizontal_delta: float
    vertical_delta: float
    roll_delta: float
    vel_std: float
    max_vel: float
    roll_std: float
    max_roll_vel: float
    max_zoom_in: float
    max_zoom_out: float
    upper_quadrant: bool


@dataclass(frozen=True)
class ColorSettings:
    """Colour distraction of every material's RGB.

    Attributes:
        max_delta: each channel stays within +- max_delta of its original value (and in [0, 1]).
        step_std: std of the per-change random walk of each channel.
    """

    max_delta: float
    step_std: float


@dataclass(frozen=True)
class BackgroundSettings:
    """DAVIS video on the skybox.

    Attributes:
        num_videos: how many videos of the split's list (the first ones); None: all.
        ground_plane_alpha: alpha of the ``grid`` material (the floor); below 1 the skybox
            video shows through it.
    """

    num_videos: int | None
    ground_plane_alpha: float


@dataclass(frozen=True)
class Settings:
    """Everything one intensity means for one domain."""

    intensity: float
    camera: CameraSettings
    color: ColorSettings
    background: BackgroundSettings


def check_intensity(intensity: float) -> float:
    """The intensity as a float, if it is one DMControl-GB implements.

    Raises:
        ValueError: naming the valid intensities.
    """
    try:
        value = float(intensity)
    except (TypeError, ValueError):
        value = math.nan
    if value not in _NUM_VIDEOS:
        raise ValueError(
            f"expected a distracting_cs intensity in {list(INTENSITIES)} (the ones DMControl-GB "
            f"implements), actual value: {intensity!r}"
        )
    return value


def _check_domain(domain: str) -> None:
    if domain not in DOMAINS:
        raise ValueError(
            f"the Distracting Control Suite supports the domains {list(DOMAINS)}, "
            f"actual value: {domain!r}"
        )


def num_videos(intensity: float) -> int | None:
    """How many DAVIS videos (the first ones of the list) an intensity uses; None: all."""
    return _NUM_VIDEOS[check_intensity(intensity)]


def camera_settings(domain: str, intensity: float) -> CameraSettings:
    """The camera distraction of ``domain`` at ``intensity`` (dynamic, as DMControl-GB runs it)."""
    _check_domain(domain)
    s = check_intensity(intensity)
    return CameraSettings(
        horizontal_delta=_CAMERA_ANGLE * s,
        vertical_delta=_CAMERA_ANGLE * s,
        roll_delta=_CAMERA_ANGLE * s,
        vel_std=_CAMERA_VEL_STD * s,
        max_vel=_CAMERA_MAX_VEL * s,
        roll_std=_CAMERA_ROLL_STD * s,
        max_roll_vel=_CAMERA_MAX_ROLL_VEL * s,
        max_zoom_in=_CAMERA_ZOOM_IN * s,
        max_zoom_out=_CAMERA_ZOOM_OUT * s,
        upper_quadrant=domain != "reacher",
    )


def color_settings(intensity: float) -> ColorSettings:
    """The colour distraction at ``intensity`` (dynamic)."""
    s = check_intensity(intensity)
    return ColorSettings(max_delta=s, step_std=_COLOR_STEP_STD * s)


def background_settings(domain: str, intensity: float) -> BackgroundSettings:
    """The background distraction of ``domain`` at ``intensity``."""
    _check_domain(domain)
    if domain == "reacher":
        alpha = 0.0
    elif domain in ("walker", "cheetah"):
        alpha = 1.0
    else:
        alpha = 0.3
    return BackgroundSettings(num_videos=num_videos(intensity), ground_plane_alpha=alpha)


def distraction_settings(domain: str, intensity: float) -> Settings:
    """All distractions of ``domain`` at ``intensity``.

    Raises:
        ValueError: an intensity DMControl-GB does not implement, or an unsupported domain.
    """
    intensity = check_intensity(intensity)
    return Settings(
        intensity=intensity,
        camera=camera_settings(domain, intensity),
        color=color_settings(intensity),
        background=background_settings(domain, intensity),
    )
