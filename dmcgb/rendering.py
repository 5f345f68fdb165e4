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

Two more process-wide facts live here, because dm_control and mujoco each keep their own:

* A process forked after it created a GL context cannot create one (Mesa's llvmpipe waits
  forever for worker threads that were not copied; GPU drivers misbehave too). Envs call
  :func:`before_gl_context` first, which raises at once in such a child with the fix
  (``context="spawn"``) instead of letting it hang.
* At exit, dm_control and mujoco each terminate the EGL display they share from their own exit
  hook; contexts freed after that print pages of ``EGL_BAD_DISPLAY`` tracebacks. Envs register
  with :func:`after_gl_context`, which keeps one exit hook that closes them all registered
  last, so it runs first.
"""

from __future__ import annotations

import atexit
import importlib
import importlib.util
import os
import subprocess
import sys
import weakref
from typing import Protocol

from dmcgb import gl_threads
from dmcgb.errors import RenderingBackendError

__all__ = ["BACKENDS", "ensure_gl_backend", "before_gl_context", "after_gl_context"]

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


class _Closable(Protocol):
    def close(self) -> None: ...


_FORK_FIX = (
    "this process was forked from one that had already rendered with OpenGL (for example by "
    "gymnasium.vector.AsyncVectorEnv, which forks by default), and a forked process cannot "
    "create a rendering context: it would hang. Create the vector env with "
    "context=\"spawn\" (AsyncVectorEnv(env_fns, context=\"spawn\"), or gymnasium.make_vec(..., "
    "vectorization_mode=\"async\", vector_kwargs={\"context\": \"spawn\"})), or create it before "
    "the parent process renders"
)

_gl_users: weakref.WeakSet = weakref.WeakSet()  # objects holding GL contexts, closed at exit
_has_rendered = False  # this process created a GL context
_forked_after_rendering = False  # ... or its parent did before forking it


def before_gl_context() -> None:
    """Call before creating a GL context; raises at once where creating one would hang.

    Raises:
        RenderingBackendError: this process was forked after its parent rendered.
    """
    if _forked_after_rendering:
        raise RenderingBackendError(_FORK_FIX)


def after_gl_context(owner: _Closable) -> None:
    """Record that ``owner`` holds GL contexts, to be closed (by ``owner.close()``) at exit.

    The exit hook is re-registered on every call, so that it is the last registered and runs
    before the GL libraries' own shutdown hooks (exit hooks run last-registered first).
    """
    global _has_rendered
    _has_rendered = True
    _gl_users.add(owner)
    atexit.unregister(_close_gl_users)
    atexit.register(_close_gl_users)


def _close_gl_users() -> None:
    for owner in list(_gl_users):
        owner.close()
    gl_threads.free_pending()  # those of envs dropped without close() that had to wait


def _after_fork_in_child() -> None:
    global _forked_after_rendering, _gl_users
    _forked_after_rendering = _forked_after_rendering or _has_rendered
    _gl_users = weakref.WeakSet()  # the parent's contexts are not the child's to free


os.register_at_fork(after_in_child=_after_fork_in_child)
