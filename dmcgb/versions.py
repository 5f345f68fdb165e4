"""The installed dm_control and MuJoCo must be a pair: each dm_control release indexes the
model fields of one MuJoCo major version.

dm_control 1.0.52 is the first release for MuJoCo 4 (it requires mujoco>=4.0.1); 1.0.50 runs on
MuJoCo 3 and fails on MuJoCo 4 deep inside its first lookup ("'MjModel' object has no attribute
'flex_vertedge'"). The package metadata allows both pairs, and cannot forbid the mixed one.
"""

from __future__ import annotations

import functools
import re
from importlib.metadata import version

from dmcgb.errors import MismatchedDependencies

__all__ = ["check_dm_control_matches_mujoco"]

_FIRST_DM_CONTROL_FOR_MUJOCO_4 = (1, 0, 52)


def _release(text: str) -> tuple[int, ...]:
    """'1.0.52' -> (1, 0, 52); a suffix such as '.dev1' or 'rc1' is ignored."""
    return tuple(int(part) for part in re.findall(r"\d+", text.split("+")[0])[:3])


@functools.cache
def check_dm_control_matches_mujoco() -> None:
    """Check that the installed dm_control runs on the installed MuJoCo.

    Raises:
        MismatchedDependencies: dm_control older than 1.0.52 beside MuJoCo 4 or newer.
    """
    dm_control, mujoco = version("dm_control"), version("mujoco")
    if _release(mujoco)[0] >= 4 and _release(dm_control) < _FIRST_DM_CONTROL_FOR_MUJOCO_4:
        raise MismatchedDependencies(
            f"dm_control {dm_control} does not run on MuJoCo {mujoco} (dm_control 1.0.52 is "
            "the first for MuJoCo 4); install a matching pair: "
            "pip install 'dm_control>=1.0.52' or pip install 'mujoco<4'"
        )
