"""Choosing the OpenGL backend, and the error when none works."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
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


# The crash of a fresh install with a CUDA build of torch: render with Mesa, then let torch
# import torch._dynamo (Adam does) and with it triton. Run in a subprocess: a segfault there
# is an exit code here. With `hide_triton`, triton is made unimportable, so the frame is the
# one rendered without triton's LLVM in the process.
_RENDER_THEN_TRAIN = """
import sys
if {hide_triton}:
    sys.modules["triton"] = None
import gymnasium as gym
import numpy as np
import dmcgb
env = gym.make("dmcgb/WalkerWalk-train-v0")
obs, _ = env.reset(seed=3)
import torch
parameter = torch.nn.Parameter(torch.zeros(3))
optimizer = torch.optim.Adam([parameter])
parameter.sum().backward()
optimizer.step()
obs2, *_ = env.step(np.zeros(env.action_space.shape, np.float32))
np.save(sys.argv[1], np.stack([obs, obs2]))
print("triton loaded:", sys.modules.get("triton") is not None)
"""


def _render_then_train(tmp_path, hide_triton: bool):
    out = tmp_path / f"frames_{hide_triton}.npy"
    result = subprocess.run(
        [sys.executable, "-c", _RENDER_THEN_TRAIN.format(hide_triton=hide_triton), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, (
        f"render-then-train exited with {result.returncode}:\n{result.stderr[-3000:]}"
    )
    return np.load(out), result.stdout


def test_rendering_then_creating_an_optimizer_does_not_crash_and_frames_are_unchanged(tmp_path):
    frames, stdout = _render_then_train(tmp_path, hide_triton=False)
    if importlib.util.find_spec("triton") is not None:
        assert "triton loaded: True" in stdout  # the clash this guards against was possible
    reference, _ = _render_then_train(tmp_path, hide_triton=True)
    np.testing.assert_array_equal(frames, reference)
