"""Choosing the OpenGL backend, the error when none works, forking after rendering, silent exit."""

from __future__ import annotations

import importlib.util
import os
import signal
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
    pytest.importorskip("torch", reason="the clash it guards against needs torch (the agent extra)")
    frames, stdout = _render_then_train(tmp_path, hide_triton=False)
    if importlib.util.find_spec("triton") is not None:
        assert "triton loaded: True" in stdout  # the clash this guards against was possible
    reference, _ = _render_then_train(tmp_path, hide_triton=True)
    np.testing.assert_array_equal(frames, reference)


def _run_script(code: str, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (its own process group, so that a hung child and
    its forked workers are all killed at the timeout); fail with its output if it hangs."""
    process = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        pytest.fail(f"hung for {timeout:.0f} s:\n{stdout[-2000:]}\n{stderr[-3000:]}")
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


# Gymnasium's AsyncVectorEnv forks its workers by default.
_FORK_AFTER_RENDER = """
import sys, time
import gymnasium as gym
import dmcgb
from dmcgb.errors import RenderingBackendError

ENV_ID = sys.argv[2]
make = lambda: gym.make(ENV_ID)
if sys.argv[1] == "render-first":
    parent = make()
    parent.reset(seed=0)  # this process now holds a GL context
start = time.monotonic()
envs = gym.vector.AsyncVectorEnv([make, make])
try:
    obs, _ = envs.reset(seed=1)
    obs, *_ = envs.step(envs.action_space.sample())
    print("STEPPED", obs.shape)
except RenderingBackendError as error:
    print(f"REFUSED after {time.monotonic() - start:.1f} s: {error}")
finally:
    envs.close()
if sys.argv[1] == "vector-first":
    parent = make()
    parent.reset(seed=0)
    print("PARENT RENDERED")
"""


@pytest.mark.parametrize("env_id", ["dmcgb/CartpoleSwingup-colorhard-v0", "dmcgb/RobotReach-train-v0"])
def test_fork_after_rendering_fails_at_once_naming_spawn(env_id, dmcgb_data):
    result = _run_script(_FORK_AFTER_RENDER, "render-first", env_id)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "REFUSED" in result.stdout, result.stdout + result.stderr[-3000:]
    assert 'context="spawn"' in result.stdout and "forked" in result.stdout
    seconds = float(result.stdout.split("REFUSED after ")[1].split(" s")[0])
    assert seconds < 60


@pytest.mark.parametrize("env_id", ["dmcgb/CartpoleSwingup-colorhard-v0", "dmcgb/RobotReach-train-v0"])
def test_fork_before_rendering_works_and_the_parent_renders_after(env_id, dmcgb_data):
    result = _run_script(_FORK_AFTER_RENDER, "vector-first", env_id)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "STEPPED (2, 84, 84, 3)" in result.stdout and "PARENT RENDERED" in result.stdout


_BOTH_SUITES = """
import gymnasium as gym
import numpy as np
import dmcgb
envs = [gym.make(i) for i in ("dmcgb/CartpoleSwingup-train-v0", "dmcgb/RobotReach-test2-v0",
                              "dmcgb/WalkerWalk-train-v0")]
for env in envs:
    env.reset(seed=0)
    env.step(np.zeros(env.action_space.shape, np.float32))
envs[0].close()  # one closed by hand, the others left to the exit
print("done")
"""


def test_interpreter_exit_is_silent_after_using_both_suites():
    result = _run_script(_BOTH_SUITES)
    assert result.returncode == 0 and result.stdout == "done\n"
    assert result.stderr == ""
