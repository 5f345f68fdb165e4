"""Build the robot scene's MuJoCo model: Fetch arm, table, camera, textures, and a task's objects.

The Fetch robot (MJCF and meshes) is loaded at run time from the installed
``gymnasium-robotics`` package; nothing of it is copied here. Its example scene is taken apart
with ``mujoco.MjSpec``: its floor, table, target, light and textures are removed, the mobile base,
torso, head and finger joints are frozen (the base stands still, the gripper stays closed), and
our own table, floor, skybox, lights, camera and task objects are added around the 7-DoF arm.

Coordinates are the Fetch scene's: metres, z up, the table top at z = 0.4 m.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Protocol

import mujoco
import numpy as np

from dmcgb.robot.textures import table_texture
from dmcgb.robot.variants import Variant

__all__ = [
    "fetch_scene_path",
    "build_model",
    "SceneObjects",
    "object_rgba",
    "TIMESTEP",
    "TABLE_CENTER",
    "CAMERA",
    "EE_SITE",
    "MOCAP_BODY",
    "ROBOT_ROOT_BODY",
    "TABLE_TOP_Z",
    "GRIPPER_DOWN_QUAT",
]

# Names in the built model that the env and the tasks look up.
CAMERA = "third_person"
EE_SITE = "robot0:grip"  # between the closed fingers
MOCAP_BODY = "robot0:mocap"
ROBOT_ROOT_BODY = "robot0:base_link"

TIMESTEP = 0.002  # s, the Fetch scene's physics step

# The Fetch example scene places its mobile base with slide joints at reset; we freeze the base
# at that same place (model position + initial slide offsets).
_BASE_POS = (0.2869 + 0.405, 0.2641 + 0.48, 0.0)  # m
# Joints frozen at their reference position: mobile base, torso lift, head, fingers (closed).
_FROZEN_JOINTS = (
    "robot0:slide0",
    "robot0:slide1",
    "robot0:slide2",
    "robot0:torso_lift_joint",
    "robot0:head_pan_joint",
    "robot0:head_tilt_joint",
    "robot0:r_gripper_finger_joint",
    "robot0:l_gripper_finger_joint",
)
# Parts of the example scene that we replace with our own.
_REMOVED_BODIES = ("floor0", "table0")
_REMOVED_GEOMS = ("floor0",)

TABLE_TOP_Z = 0.4  # m
TABLE_CENTER = (1.3, 0.75)  # m
_TABLE_HALF_SIZE = (0.3, 0.45, TABLE_TOP_Z / 2)  # m
_FLOOR_HALF_SIZE = 3.0  # m

# The gripper points straight down: 90 degrees about +y (w, x, y, z).
GRIPPER_DOWN_QUAT = (np.sqrt(0.5), 0.0, np.sqrt(0.5), 0.0)

# The camera stands in front of the table, right of the robot, looking at the workspace.
_CAMERA_POS = (2.45, 1.5, 1.3)  # m
_CAMERA_TARGET = (1.15, 0.75, 0.6)  # m
_CAMERA_FOVY = 45.0  # degrees

# Untinted colours (RGB in [0, 1]).
_SKY_TOP = (0.62, 0.72, 0.85)
_SKY_BOTTOM = (0.9, 0.92, 0.95)
_FLOOR_DARK = (0.3, 0.3, 0.32)
_FLOOR_LIGHT = (0.45, 0.45, 0.47)


class SceneObjects(Protocol):
    """What a robot task adds to the scene (see ``dmcgb.robot.tasks``)."""

    def add_objects(self, spec: mujoco.MjSpec, variant: Variant) -> None:
        """Add the task's bodies, geoms and sites to ``spec``, coloured for ``variant``."""

    def adjust_model(self, model: mujoco.MjModel) -> None:
        """Set compiled-model fields that the spec cannot express."""


def fetch_scene_path() -> Path:
    """Path of the Fetch reach scene MJCF inside the installed ``gymnasium_robotics``.

    The package is located without importing it (its import registers many envs and prints).

    Raises:
        ModuleNotFoundError: gymnasium-robotics is not installed.
    """
    spec = importlib.util.find_spec("gymnasium_robotics")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "the robot envs load the Fetch arm model from gymnasium-robotics, which is not "
            "installed; run `pip install gymnasium-robotics`"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / "envs" / "assets" / "fetch" / "reach.xml"
    if not path.is_file():
        raise ModuleNotFoundError(
            f"gymnasium-robotics is installed but has no Fetch model at {path}; reinstall it "
            "with `pip install --force-reinstall gymnasium-robotics`"
        )
    return path


def _tinted(rgb: tuple[float, ...], tint: tuple[float, ...]) -> list[float]:
    """Surface colour under the variant tint: base x tint."""
    return [float(c * t) for c, t in zip(rgb, tint, strict=True)]


def object_rgba(rgb: tuple[float, ...], tint: tuple[float, ...]) -> list[float]:
    """Task-object colour: tinted half-way, base x (1 + tint) / 2, opaque."""
    return [float(c * (1.0 + t) / 2.0) for c, t in zip(rgb, tint, strict=True)] + [1.0]


def _look_at_quat(pos: tuple[float, ...], target: tuple[float, ...]) -> np.ndarray:
    """Quaternion of a camera at `pos` looking at `target` with the world z axis up."""
    forward = np.asarray(target, float) - np.asarray(pos, float)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, (0.0, 0.0, 1.0))
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    # MuJoCo cameras look along their -z axis, with +x right and +y up.
    mat = np.column_stack([right, up, -forward]).flatten()
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, mat)
    return quat


def _strip_example_scene(spec: mujoco.MjSpec) -> None:
    """Remove the Fetch scene's own surroundings and freeze the non-arm joints."""
    for name in _REMOVED_GEOMS:
        spec.delete(spec.geom(name))
    for name in _REMOVED_BODIES:
        spec.delete(spec.body(name))
    for light in list(spec.lights):
        spec.delete(light)
    for texture in list(spec.textures):
        spec.delete(texture)
    for name in ("floor_mat", "table_mat", "block_mat", "puck_mat"):
        spec.delete(spec.material(name))
    for name in _FROZEN_JOINTS:
        spec.delete(spec.joint(name))
    # The mocap body's crosshair geoms would show in the camera image.
    for geom in list(spec.body(MOCAP_BODY).geoms):
        spec.delete(geom)
    spec.body(ROBOT_ROOT_BODY).pos = _BASE_POS
    # Weld the gripper exactly onto the mocap pose (not at their qpos0 offset).
    (weld,) = [eq for eq in spec.equalities if eq.type == mujoco.mjtEq.mjEQ_WELD]
    data = np.array(weld.data)
    data[3:10] = (0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0)
    weld.data = data


def _add_surroundings(spec: mujoco.MjSpec, variant: Variant) -> None:
    """Skybox, floor, table, lights and the fixed camera."""
    tint = variant.tint
    spec.add_texture(
        name="skybox",
        type=mujoco.mjtTexture.mjTEXTURE_SKYBOX,
        builtin=mujoco.mjtBuiltin.mjBUILTIN_GRADIENT,
        rgb1=_tinted(_SKY_TOP, tint),
        rgb2=_tinted(_SKY_BOTTOM, tint),
        width=64,
        height=64,
    )
    spec.add_texture(
        name="floor",
        type=mujoco.mjtTexture.mjTEXTURE_2D,
        builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER,
        rgb1=_tinted(_FLOOR_DARK, tint),
        rgb2=_tinted(_FLOOR_LIGHT, tint),
        width=64,
        height=64,
    )
    image = table_texture(variant.table_surface)
    table_tex = spec.add_texture(
        name="table",
        type=mujoco.mjtTexture.mjTEXTURE_2D,
        width=image.shape[1],
        height=image.shape[0],
        nchannel=3,
    )
    table_tex.data = image.tobytes()
    floor_mat = spec.add_material(name="floor", texrepeat=[8.0, 8.0], texuniform=True)
    floor_mat.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = "floor"
    table_mat = spec.add_material(
        name="table", rgba=list(tint) + [1.0], texrepeat=[1.5, 1.5], texuniform=True
    )
    table_mat.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = "table"

    world = spec.worldbody
    world.add_geom(
        name="floor",
        type=mujoco.mjtGeom.mjGEOM_PLANE,
        size=[_FLOOR_HALF_SIZE, _FLOOR_HALF_SIZE, 0.1],
        pos=[TABLE_CENTER[0], TABLE_CENTER[1], 0.0],
        material="floor",
    )
    table = world.add_body(name="table", pos=[*TABLE_CENTER, TABLE_TOP_Z / 2])
    table.add_geom(
        name="table", type=mujoco.mjtGeom.mjGEOM_BOX, size=list(_TABLE_HALF_SIZE), material="table"
    )
    world.add_light(
        name="key",
        pos=[1.6, 1.2, 2.5],
        dir=[-0.2, -0.3, -1.0],
        diffuse=[0.6, 0.6, 0.6],
        specular=[0.2, 0.2, 0.2],
        castshadow=True,
    )
    world.add_light(
        name="fill",
        pos=[0.0, 0.0, 3.0],
        dir=[0.3, 0.2, -1.0],
        diffuse=[0.3, 0.3, 0.3],
        specular=[0.0, 0.0, 0.0],
        castshadow=False,
    )
    world.add_camera(
        name=CAMERA,
        pos=list(_CAMERA_POS),
        quat=list(_look_at_quat(_CAMERA_POS, _CAMERA_TARGET)),
        fovy=_CAMERA_FOVY,
    )


def build_model(task: SceneObjects, variant: Variant) -> mujoco.MjModel:
    """Compile the scene with ``task``'s objects, as ``variant`` looks."""
    spec = mujoco.MjSpec.from_file(str(fetch_scene_path()))
    spec.modelname = f"dmcgb_robot_{type(task).__name__.lower()}_{variant.name}"
    spec.option.timestep = TIMESTEP
    spec.visual.quality.shadowsize = 1024  # texels; enough at 84 px, cheaper than the default
    spec.visual.global_.offwidth = 640
    spec.visual.global_.offheight = 640
    _strip_example_scene(spec)
    _add_surroundings(spec, variant)
    task.add_objects(spec, variant)
    model = spec.compile()
    task.adjust_model(model)
    return model
