"""Print the Python and the versions of the packages that decide what a tox env tests.

Usage: python .ci/versions.py  (tox runs it before the tests of each env-half env)
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version

PACKAGES = (
    "numpy",
    "mujoco",
    "dm_control",
    "labmaze",
    "gymnasium",
    "gymnasium_robotics",
    "opencv-python-headless",
    "pillow",
    "imageio",
    "imageio-ffmpeg",
    "torch",
)


def _installed(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "absent"


if __name__ == "__main__":
    parts = [f"python {sys.version.split()[0]}"]
    parts += [f"{name} {_installed(name)}" for name in PACKAGES]
    print("versions: " + ", ".join(parts))
