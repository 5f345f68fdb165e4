"""Camera pose distraction: a camera drifting on a sphere around the scene, as pure functions.

The camera position lives in spherical coordinates (radius, azimuth ``h``, polar angle ``v``)
around the scene (the world origin for a fixed camera, the agent's centre of mass for a
tracking one). At reset the position, roll and velocities are drawn uniformly within ranges
set by the undistorted camera; at each change the velocity takes a Gaussian random-walk step,
is capped, moves the camera, and the camera is clipped back into its ranges. The orientation
always looks at the scene's look-at point, then rolls about its optical axis.

These are the semantics of DMControl-GB's ``distracting_control/camera.py`` (from Stone et
al., 2021), written here from its equations. Nothing here touches MuJoCo: the engine
(``dmcgb.distracting.engine``) reads the undistorted pose from the physics and writes the
distracted one back before rendering.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from dmcgb.distracting.settings import CameraSettings

__all__ = [
    "CameraRange",
    "CameraState",
    "to_spherical",
    "to_cartesian",
    "camera_range",
    "sample_camera",
    "draw_walk_noise",
    "walk_camera",
    "look_at_upright",
    "look_at_shortest",
    "roll_matrix",
    "look_at_point",
    "camera_pose",
]

_RADIUS_PER_VELOCITY_UNIT = 4.0  # m: velocities scale with start radius / 4 ("most envs: 4")
_AXIS_EPS = 1e-4  # added to the rotation axis' norm before normalising, as the suite does
_DOWN = np.array([0.0, 0.0, -1.0])  # a MuJoCo camera looks along its -z axis


@dataclass(frozen=True)
class CameraRange:
    """Where the camera may go in one episode, set from the undistorted camera at reset.

    Attributes:
        min_radius, max_radius: m, distance from the scene centre.
        min_h, max_h: rad, azimuth.
        min_v, max_v: rad, polar angle (0 = straight above).
        max_roll: rad; the roll stays in [-max_roll, max_roll].
        vel_scale: start radius / 4 m; scales the velocity walk and its cap.
    """

    min_radius: float
    max_radius: float
    min_h: float
    max_h: float
    min_v: float
    max_v: float
    max_roll: float
    vel_scale: float


@dataclass(frozen=True)
class CameraState:
    """The camera's position (spherical), roll and velocities.

    Attributes:
        radius: m.
        h: rad, azimuth.
        v: rad, polar angle.
        roll: rad.
        velocity: (3,) m per change, Cartesian.
        roll_velocity: rad per change.
    """

    radius: float
    h: float
    v: float
    roll: float
    velocity: np.ndarray
    roll_velocity: float


def to_spherical(position: np.ndarray) -> tuple[float, float, float]:
    """(radius, azimuth, polar angle) of a Cartesian (3,) position."""
    x, y, z = (float(c) for c in position)
    radius = float(np.sqrt(x * x + y * y + z * z))
    return radius, float(np.arctan2(y, x)), float(np.arctan2(np.sqrt(x * x + y * y), z))


def to_cartesian(radius: float, h: float, v: float) -> np.ndarray:
    """(3,) Cartesian position of spherical coordinates (radius, azimuth, polar angle)."""
    return np.array(
        [radius * np.sin(v) * np.cos(h), radius * np.sin(v) * np.sin(h), radius * np.cos(v)]
    )


def camera_range(start: np.ndarray, cfg: CameraSettings) -> CameraRange:
    """The episode's ranges around the undistorted camera position ``start`` (scene-centred)."""
    radius, h, v = to_spherical(start)
    min_h, max_h = h - cfg.horizontal_delta, h + cfg.horizontal_delta
    min_v, max_v = v - cfg.vertical_delta, v + cfg.vertical_delta
    if cfg.upper_quadrant:
        # Above the floor and on the camera's side of the scene (a centred camera sits at
        # polar angle pi/2 and azimuth -pi/2).
        min_v, max_v = max(min_v, 0.0), min(max_v, np.pi / 2)
        min_h, max_h = max(min_h, -np.pi), min(max_h, 0.0)
    return CameraRange(
        min_radius=max(radius - radius * cfg.max_zoom_in, 0.0),
        max_radius=radius + radius * cfg.max_zoom_out,
        min_h=min_h,
        max_h=max_h,
        min_v=min_v,
        max_v=max_v,
        max_roll=cfg.roll_delta,
        vel_scale=radius / _RADIUS_PER_VELOCITY_UNIT,
    )


def sample_camera(
    rng: np.random.Generator, bounds: CameraRange, cfg: CameraSettings
) -> CameraState:
    """The camera at the start of an episode: position and roll uniform in their ranges, a
    velocity of uniform direction and speed ~ U(0, max_vel), roll velocity uniform."""
    h = rng.uniform(bounds.min_h, bounds.max_h)
    v = rng.uniform(bounds.min_v, bounds.max_v)
    radius = rng.uniform(bounds.min_radius, bounds.max_radius)
    roll = rng.uniform(-bounds.max_roll, bounds.max_roll)
    direction = rng.standard_normal(3)
    velocity = direction / np.linalg.norm(direction) * rng.uniform(0.0, cfg.max_vel)
    roll_velocity = rng.uniform(-cfg.max_roll_vel, cfg.max_roll_vel)
    return CameraState(
        float(radius), float(h), float(v), float(roll), velocity, float(roll_velocity)
    )


def draw_walk_noise(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """The standard normal draws of one random-walk step: (3,) for the velocity, one for roll."""
    return rng.standard_normal(3), float(rng.standard_normal())


def walk_camera(
    state: CameraState,
    noise: np.ndarray,
    roll_noise: float,
    bounds: CameraRange,
    cfg: CameraSettings,
) -> CameraState:
    """One change of the camera, given its standard normal draws.

    The velocity takes a step of ``noise * vel_std * vel_scale`` and its norm is capped at
    ``max_vel * vel_scale``; the roll velocity takes a step of ``roll_noise * roll_std`` and is
    clipped to ``max_roll_vel``. The camera moves by its velocity and is clipped back into its
    spherical ranges; the velocity becomes the move actually made (so it shrinks against a
    limit). The same for the roll.
    """
    velocity = state.velocity + noise * cfg.vel_std * bounds.vel_scale
    roll_velocity = state.roll_velocity + roll_noise * cfg.roll_std
    speed, cap = float(np.linalg.norm(velocity)), cfg.max_vel * bounds.vel_scale
    if speed > cap:
        velocity = velocity * (cap / speed)
    roll_velocity = float(np.clip(roll_velocity, -cfg.max_roll_vel, cfg.max_roll_vel))

    position = to_cartesian(state.radius, state.h, state.v)
    radius, h, v = to_spherical(position + velocity)
    radius = float(np.clip(radius, bounds.min_radius, bounds.max_radius))
    h = float(np.clip(h, bounds.min_h, bounds.max_h))
    v = float(np.clip(v, bounds.min_v, bounds.max_v))
    roll = float(np.clip(state.roll + roll_velocity, -bounds.max_roll, bounds.max_roll))
    return replace(
        state,
        radius=radius,
        h=h,
        v=v,
        roll=roll,
        velocity=to_cartesian(radius, h, v) - position,
        roll_velocity=roll - state.roll,
    )


def _rot_x(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rot_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def look_at_upright(target: np.ndarray, eye: np.ndarray) -> np.ndarray:
    """(3, 3) camera orientation at ``eye`` looking at ``target`` with a horizontal x axis.

    A pitch about x (the camera starts looking straight down) followed by a yaw about the
    world z axis. Unstable right above or below the target (the yaw flips there).
    """
    direction = (target - eye) / np.linalg.norm(target - eye)
    yaw = np.arctan2(direction[0], direction[1])
    pitch = np.arctan2(direction[2], np.linalg.norm(direction[:2])) + np.pi / 2
    return _rot_z(-yaw) @ _rot_x(pitch)


def look_at_shortest(target: np.ndarray, eye: np.ndarray) -> np.ndarray:
    """(3, 3) orientation at ``eye`` looking at ``target``: the smallest rotation of a camera
    looking straight down (stable above the target, but it may roll the image)."""
    direction = (target - eye) / np.linalg.norm(target - eye)
    axis = np.cross(_DOWN, direction)
    sin, cos = float(np.linalg.norm(axis)), float(direction @ _DOWN)
    axis = axis / (np.linalg.norm(axis) + _AXIS_EPS)
    cross = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    return cos * np.eye(3) + sin * cross + (1.0 - cos) * np.outer(axis, axis)


def roll_matrix(roll: float) -> np.ndarray:
    """(3, 3) rotation by ``roll`` about the camera's optical (z) axis."""
    return _rot_z(roll)


def look_at_point(position: np.ndarray, orientation: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """The point a camera looks at: along its view axis, as far as it is from ``centre``.

    Args:
        position: (3,) camera position.
        orientation: (3, 3) camera orientation (columns: the camera's axes in world frame).
        centre: (3,) the agent's centre of mass.
    """
    distance = np.linalg.norm(position - centre)
    return position + orientation @ np.array([0.0, 0.0, -distance])


def camera_pose(
    state: CameraState, target: np.ndarray, origin: np.ndarray, upper_quadrant: bool
) -> tuple[np.ndarray, np.ndarray]:
    """World pose of the distracted camera: ((3,) position, (3, 3) orientation).

    Args:
        state: the camera's spherical position and roll.
        target: (3,) the point to look at.
        origin: (3,) the sphere's centre: zeros for a fixed camera, the agent's centre of mass
            for a tracking one.
        upper_quadrant: look with ``look_at_upright`` (True) or ``look_at_shortest`` (reacher).
    """
    position = origin + to_cartesian(state.radius, state.h, state.v)
    look = look_at_upright if upper_quadrant else look_at_shortest
    return position, look(target, position) @ roll_matrix(state.roll)
