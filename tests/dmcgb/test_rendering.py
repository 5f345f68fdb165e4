"""Choosing the OpenGL backend, and the error when none works."""

from __future__ import annotations

import pytest

from dmcgb import rendering
from dmcgb.errors import RenderingBackendError


def test_the_backend_found_here_creates_a_context():
    backend = rendering.ensure_gl_backend()
    assert rendering._probe(backend) is None


def test_no_working_backend_names_each_one_tried_and_the_fix(monkeypatch):
    # Backends MuJoCo does not know: each probe really runs and really fails.
    monkeypatch.setattr(rendering, "BACKENDS", ("no-such-gl", "another-missing-gl"))
    monkeypatch.setattr(rendering, "_chosen", None)
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    with pytest.raises(RenderingBackendError) as error:
        rendering.ensure_gl_backend()
    message = str(error.value)
    assert "no-such-gl:" in message and "another-missing-gl:" in message
    assert "MUJOCO_GL" in message and "libegl1" in message


def test_a_user_choice_is_kept(monkeypatch):
    monkeypatch.setattr(rendering, "_chosen", None)
    monkeypatch.setenv("MUJOCO_GL", "egl")
    assert rendering.ensure_gl_backend() == "egl"
