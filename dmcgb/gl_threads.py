"""GL contexts that any thread can use and free: bound to a thread only while an env renders.

An EGL or GLFW context is current on at most one thread, and dm_control records which: left
current after a render, a context can be used or freed on that thread alone, and one left
current on a thread that has ended can never be made current again (Mesa answers
``EGL_BAD_ACCESS``). An env whose last reference dies on another thread (a worker that held
it, a threaded collector, a notebook's inspector thread) then keeps its context forever and
prints dm_control's "Cannot make context ... current on thread" tracebacks; one stepped on
another thread than the one that rendered it last fails the same way.

So every dmcgb env wraps its GL work in :func:`gl_section`, which releases the thread's
current context when the outermost section ends (the next render makes it current again, as
dm_control does anyway when envs alternate on a thread). Between env calls no dmcgb context is
current anywhere: an env can be stepped on any thread, one at a time, and freed on any thread.

Envs free their contexts through :func:`free_gl`, from ``close()`` and from a
``weakref.finalize`` that holds the GL objects, never the env. A finalizer can run in the
middle of another env's render (cyclic garbage collection runs at any allocation), where
freeing would unbind that env's context under it; there the teardown waits, and runs when the
section ends. A context that someone made current outside the env's calls (rendering through
``env.physics`` directly) cannot be freed elsewhere until that thread lets it go: its teardown
waits too, and runs at the end of the next section on any thread (or at exit).

dm_control's OSMesa contexts live on a dedicated thread of their own and need none of this.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["gl_section", "free_gl", "free_pending", "bound_elsewhere"]

Teardown = Callable[[], bool]
"""Frees some GL objects; returns False when it cannot yet (bound to another thread)."""

_state = threading.local()  # .depth: how many sections this thread is inside
_pending: list[Teardown] = []  # teardowns that could not run when they were asked to
_pending_lock = threading.Lock()
_inherited: list[Teardown] = []  # a forked child's copy of its parent's: kept, never run


@contextlib.contextmanager
def gl_section() -> Iterator[None]:
    """Wrap an env's use of its GL contexts; the outermost section releases them at its end.

    At the end it also runs the teardowns that waited (see the module docs).
    """
    depth = getattr(_state, "depth", 0)
    _state.depth = depth + 1
    try:
        yield
    finally:
        _state.depth = depth
        if depth == 0:
            _release_current_context()
            if _pending:
                free_pending()


def free_gl(teardown: Teardown) -> None:
    """Run ``teardown`` now, or, if it cannot run here and now, when a section next ends.

    It waits when called inside a section of this thread, or when it returns False.
    """
    if getattr(_state, "depth", 0) == 0 and _run_alone(teardown):
        if _pending:
            free_pending()
        return
    with _pending_lock:
        _pending.append(teardown)


def free_pending() -> None:
    """Run the teardowns that waited; those that still cannot run keep waiting.

    Called at the end of every outermost section and at exit; a failing teardown is reported
    as a warning rather than raised into an unrelated env's call.
    """
    if getattr(_state, "depth", 0):
        return
    still_waiting: list[Teardown] = []
    while True:
        with _pending_lock:
            if not _pending:
                break
            teardown = _pending.pop()
        try:
            if not _run_alone(teardown):
                still_waiting.append(teardown)
        except Exception as error:  # a driver error: say it, do not break the caller's step
            warnings.warn(
                f"dmcgb: freeing the GL contexts of a dropped env failed: {error!r}",
                RuntimeWarning,
                stacklevel=2,
            )
    if still_waiting:
        with _pending_lock:
            _pending.extend(still_waiting)


def bound_elsewhere(context: Any) -> bool:
    """Whether dm_control records its GL ``context`` as current on another thread, where it
    cannot be made current (and so freed) from this one."""
    from dm_control._render import base

    thread = base._CURRENT_THREAD_FOR_CONTEXT.get(id(context))
    return thread is not None and thread is not context.thread


def _run_alone(teardown: Teardown) -> bool:
    """Run ``teardown`` as a section of its own (teardowns it causes wait); its result."""
    _state.depth = 1
    try:
        return teardown()
    finally:
        _state.depth = 0
        _release_current_context()


def _release_current_context() -> None:
    """Unbind whatever GL context is current on this thread, and tell dm_control."""
    backend = os.environ.get("MUJOCO_GL", "").lower()
    # Each backend's module is imported by dm_control or mujoco when it makes a context; not
    # imported means no context of that kind was ever current.
    if backend == "egl" and (egl := sys.modules.get("OpenGL.EGL")) is not None:
        if egl.eglGetCurrentContext():
            egl.eglMakeCurrent(
                egl.eglGetCurrentDisplay(),
                egl.EGL_NO_SURFACE,
                egl.EGL_NO_SURFACE,
                egl.EGL_NO_CONTEXT,
            )
    elif backend == "osmesa" and (osmesa := sys.modules.get("OpenGL.osmesa")) is not None:
        if osmesa.OSMesaGetCurrentContext():  # mujoco's own GLContext.free unbinds the same way
            from OpenGL import GL

            osmesa.OSMesaMakeCurrent(None, None, GL.GL_FLOAT, 0, 0)
    elif backend == "glfw" and (glfw := sys.modules.get("glfw")) is not None:
        if glfw.get_current_context():
            glfw.make_context_current(None)
    # dm_control records what is current on each thread, and skips making current a context
    # it thinks already is: clear this thread's record.
    base = sys.modules.get("dm_control._render.base")
    if base is not None:
        thread = threading.current_thread()
        context_id = base._CURRENT_CONTEXT_FOR_THREAD.pop(thread, None)
        if context_id is not None:
            base._CURRENT_THREAD_FOR_CONTEXT.pop(context_id, None)


def _after_fork_in_child() -> None:
    # The parent's contexts are not the child's to free (touching them can hang a forked
    # process); dropping them would free them through dm_control, so they are only kept.
    global _pending, _pending_lock
    _inherited.extend(_pending)
    _pending = []
    _pending_lock = threading.Lock()  # another thread may have held it at the fork


os.register_at_fork(after_in_child=_after_fork_in_child)
