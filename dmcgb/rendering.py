"""Choose a headless OpenGL backend for MuJoCo before anything imports it.

MuJoCo (and dm_control) read ``MUJOCO_GL`` once, when they are first imported, and PyOpenGL
cannot switch platform afterwards. So the choice is made here, by probing each candidate in a
short-lived subprocess, and written to ``os.environ`` so that child processes (async vector
envs) inherit it without probing again.

Mesa's software renderer (llvmpipe, behind EGL and OSMesa on machines without a GPU driver)
loads its own ``libLLVM``. The CUDA builds of torch bring ``triton``, which carries another
LLVM; whichever of the two is loaded second crashes the process (a segmentation fault when
torch first imports ``torch._dynamo``, e.g. on creating an optimiser). Loaded first, triton's
copy coexists with Mesa's, so :func:`ensure_gl_backend` imports ``triton`` (when installed)
before any GL context exists. ``import triton`` does not import torch.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys

from dmcgb.errors import RenderingBackendError

__all__ = ["BACKENDS", "ensure_gl_backend"]

# Tried in this order: EGL is headless and uses the GPU on NVIDIA machines (Mesa elsewhere);
# OSMesa is pure software; GLFW needs a display.
BACKENDS: tuple[str, ...] = ("egl", "osmesa", "glfw")
_PROBE_TIMEOUT = 60.0  # s

_PROBE = """
import mujoco
ctx = mujoco.GLContext(16, 16)
ctx.make_current()
ctx.free()
"""

_FIX = (
    "Install a headless OpenGL: on Debian/Ubuntu `apt-get install libegl1 libgl1` (EGL) or "
    "`apt-get install libosmesa6` (OSMesa), or run under a display for GLFW; then retry, or "
    "set MUJOCO_GL to a backend that works on this machine."
)

_chosen: str | None = None


def _load_triton_before_gl() -> None:
    """Import triton, if installed, so its LLVM is loaded before Mesa's (see module docs)."""
    if "triton" in sys.modules or importlib.util.find_spec("triton") is None:
        return
    try:
        importlib.import_module("triton")
    except Exception:  # a broken triton install: torch will report it itself, if it needs it
        pass


def _platform_env(backend: str) -> dict[str, str]:
    env = {"MUJOCO_GL": backend}
    if backend in ("egl", "osmesa"):
        env["PYOPENGL_PLATFORM"] = backend
    return env


def _probe(backend: str) -> str | None:
    """Return None if `backend` can create a MuJoCo GL context, else the error it gave."""
    env = {**os.environ, **_platform_env(backend)}
    if backend == "glfw":
        env.pop("PYOPENGL_PLATFORM", None)
    try:
        result = subprocess.run(
            [sys.executable, "-c", _PROBE],
            env=env,
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return f"timed out after {_PROBE_TIMEOUT:.0f} s"
    if result.returncode == 0:
        return None
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else f"exit code {result.returncode}"


def ensure_gl_backend() -> str:
    """Make sure ``MUJOCO_GL`` names a working backend and return it.

    A backend the user set in ``MUJOCO_GL`` is trusted as is. Otherwise EGL, OSMesa and GLFW
    are probed in that order and the first that creates a context is exported.

    Raises:
        RenderingBackendError: no backend works; the message lists each one's error.
    """
    global _chosen
    if _chosen is not None:
        return _chosen
    _load_triton_before_gl()
    user_choice = os.environ.get("MUJOCO_GL")
    if user_choice:
        if user_choice in ("egl", "osmesa"):
            os.environ.setdefault("PYOPENGL_PLATFORM", user_choice)
        _chosen = user_choice
        return _chosen
    failures: list[str] = []
    for backend in BACKENDS:
        error = _probe(backend)
        if error is None:
            os.environ.update(_platform_env(backend))
            _chosen = backend
            return backend
        failures.append(f"  {backend}: {error}")
    raise RenderingBackendError(
        "no OpenGL backend could create a MuJoCo rendering context; tried:\n"
        + "\n".join(failures)
        + "\n"
        + _FIX
    )
