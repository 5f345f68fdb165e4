"""The robot scene's simulator state with one-line accessors, and Cartesian arm control.

The arm is driven like the Fetch envs of gymnasium-robotics: a mocap body is welded to the
gripper, each agent step moves the mocap body, and the physics runs ``N_SUBSTEPS`` steps while
the arm follows. The gripper's height and orientation stay fixed; its x-y position is clamped to
the workspace above the table.
"""

from __future__ import annotations

import mujoco
import numpy as np

from dmcgb.robot import scene

__all__ = ["RobotPhysics", "N_SUBSTEPS", "CONTROL_TIMESTEP", "WORKSPACE_LOW", "WORKSPACE_HIGH"]

N_SUBSTEPS = 20  # physics steps per control step
CONTROL_TIMESTEP = N_SUBSTEPS * scene.TIMESTEP  # s per control step

# Where the gripper may go (x, y), m: above the table, inside the arm's comfortable reach.
WORKSPACE_LOW = np.array([1.05, 0.45])
WORKSPACE_HIGH = np.array([1.50, 1.05])
START_XY = np.array([1.15, 0.75])  # m, gripper x-y at every reset

_SETTLE_STEPS = 400  # physics steps for the arm to reach a mocap target at build time


class RobotPhysics:
    """MuJoCo model + data of one robot scene, with the accessors the tasks need.

    Args:
        model: a model from ``scene.build_model``.
        ee_height: height of the end effector (grip site) above the floor, m, held fixed.
    """

    def __init__(self, model: mujoco.MjModel, ee_height: float) -> None:
        self.model = model
        self.data = mujoco.MjData(model)
        self.ee_height = ee_height
        self._mocap = int(model.body(scene.MOCAP_BODY).mocapid[0])
        self._ee_site = model.site(scene.EE_SITE).id
        # The mocap body holds the gripper link; the end effector (grip site) sits at this
        # offset from it (m) while the gripper points down.
        self._ee_offset = np.zeros(3)
        mujoco.mju_rotVecQuat(
            self._ee_offset, model.site_pos[self._ee_site], np.asarray(scene.GRIPPER_DOWN_QUAT)
        )
        self._start_qpos = self._settle_arm()

    def _settle_arm(self) -> np.ndarray:
        """Bring the arm from its straight reference pose to the start pose; return qpos."""
        mujoco.mj_resetData(self.model, self.data)
        self.data.mocap_quat[self._mocap] = scene.GRIPPER_DOWN_QUAT
        # First above the start point, then down, so the arm never sweeps through the table.
        for height in (self.ee_height + 0.3, self.ee_height):
            self.data.mocap_pos[self._mocap] = self._mocap_pos_for(START_XY, height)
            mujoco.mj_step(self.model, self.data, nstep=_SETTLE_STEPS)
        return self.data.qpos.copy()

    def _mocap_pos_for(self, ee_xy: np.ndarray, ee_height: float) -> np.ndarray:
        """Mocap position that puts the end effector at (ee_xy, ee_height)."""
        return np.array([ee_xy[0], ee_xy[1], ee_height]) - self._ee_offset

    def reset_arm(self) -> None:
        """Put the arm at the start pose, at rest, with the mocap target on the gripper."""
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[:] = self._start_qpos
        self.data.mocap_quat[self._mocap] = scene.GRIPPER_DOWN_QUAT
        self.data.mocap_pos[self._mocap] = self._mocap_pos_for(START_XY, self.ee_height)
        mujoco.mj_forward(self.model, self.data)

    def move_end_effector(self, delta_xy: np.ndarray) -> None:
        """Shift the gripper's target by `delta_xy` (m), clamped to the workspace, and simulate."""
        target = self.data.mocap_pos[self._mocap]
        target[:2] = np.clip(target[:2] + delta_xy, WORKSPACE_LOW, WORKSPACE_HIGH)
        mujoco.mj_step(self.model, self.data, nstep=N_SUBSTEPS)

    def forward(self) -> None:
        """Recompute positions after writing qpos or mocap poses."""
        mujoco.mj_forward(self.model, self.data)

    def ee_pos(self) -> np.ndarray:
        """End-effector (grip site) position, m."""
        return self.data.site_xpos[self._ee_site].copy()

    def ee_target(self) -> np.ndarray:
        """Where the mocap body asks the end effector to be, m."""
        return self.data.mocap_pos[self._mocap] + self._ee_offset

    def site_pos(self, name: str) -> np.ndarray:
        """Position of the site `name`, m."""
        return self.data.site(name).xpos.copy()

    def place_mocap_body(self, name: str, xy: np.ndarray) -> None:
        """Put the mocap body `name` (goal disc, box) at `xy` on the table."""
        mocap = int(self.model.body(name).mocapid[0])
        self.data.mocap_pos[mocap] = [xy[0], xy[1], scene.TABLE_TOP_Z]
