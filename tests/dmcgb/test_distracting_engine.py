"""The distraction engine on real dm_control physics, with a generated DAVIS folder."""

from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np
import pytest

from dmcgb.distracting import TRAIN_VIDEOS, Distractions
from dmcgb.distracting import background as bg
from dmcgb.distracting import camera as cam
from dmcgb.errors import MissingData
from dmcgb.rendering import ensure_gl_backend
from tests.conftest import SEED
from tests.dmcgb.davis_layout import write_davis


@pytest.fixture(scope="module")
def davis(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 8 train sequences (intensities up to 0.2), 5 frames each."""
    return write_davis(tmp_path_factory.mktemp("davis"), train=TRAIN_VIDEOS[:8], frames=5)


def _physics(domain: str, task: str):
    ensure_gl_backend()
    from dm_control import suite

    env = suite.load(domain, task, task_kwargs={"random": SEED})
    env.reset()
    return env


def _state(d: Distractions) -> tuple:
    c = d.camera
    return (c.radius, c.h, c.v, c.roll, *c.velocity, c.roll_velocity, *d.colors.ravel(), d.info())


def test_an_episode_is_a_function_of_seed_and_episode(davis):
    first = Distractions(_physics("cartpole", "swingup").physics, "cartpole", 0.2, davis)
    second = Distractions(_physics("cartpole", "swingup").physics, "cartpole", 0.2, davis)
    first.reset(SEED, 3)
    second.reset(SEED, 0)
    second.reset(SEED, 3)  # whatever came before
    assert _state(first) == _state(second)
    for _ in range(6):
        first.after_control_step()
        second.after_control_step()
    assert _state(first) == _state(second)
    others = []
    for seed, episode in [(SEED, 4), (SEED + 1, 3)]:
        second.reset(seed, episode)
        others.append(_state(second))
    first.reset(SEED, 3)
    assert _state(first) not in others


def test_changes_happen_every_second_control_step(davis):
    env = _physics("cartpole", "swingup")
    d = Distractions(env.physics, "cartpole", 0.1, davis)
    d.reset(SEED, 0)
    start = d.info()["video_frame"]
    history = [_state(d)]
    action = np.zeros(1)
    for step in range(1, 9):
        env.step(action)
        d.after_control_step()
        history.append(_state(d))
        assert d.control_steps == step
        changed = history[-1] != history[-2]
        assert changed == (step % 2 == 0), step
    # The frame index took one bounce-walk step at each of the 4 changes, starting from the
    # direction drawn at reset (replayed here from the episode's background stream).
    rng = np.random.default_rng(np.random.SeedSequence(SEED, spawn_key=(0, 2)))
    assert int(rng.integers(len(d.video_names))) == d.info()["video_index"]
    assert int(rng.integers(5)) == start
    index, direction = start, int(rng.choice((-1, 1)))
    for _ in range(4):
        index, direction = bg.next_frame(index, direction, 5)
    assert d.info()["video_frame"] == index


@pytest.mark.parametrize(
    ("domain", "task", "alpha"),
    [("walker", "walk", 1.0), ("cartpole", "swingup", 0.3), ("reacher", "easy", 0.0)],
)
def test_model_edits(davis, domain, task, alpha):
    env = _physics(domain, task)
    model = env.physics.model
    grid = mujoco.mj_name2id(model.ptr, mujoco.mjtObj.mjOBJ_MATERIAL, "grid")
    original = model.mat_rgba.copy()
    d = Distractions(env.physics, domain, 0.2, davis)
    d.reset(SEED, 0)
    assert model.tex_height[0] == 800 and model.tex_width[0] == 800  # texture 0 is the skybox
    assert model.mat_rgba[grid, 3] == np.float32(alpha)  # the model stores float32
    low, high = d.color_bounds
    np.testing.assert_allclose(low, np.clip(original[:, :3] - 0.2, 0, 1))
    np.testing.assert_allclose(high, np.clip(original[:, :3] + 0.2, 0, 1))
    for _ in range(10):
        np.testing.assert_allclose(model.mat_rgba[:, :3], d.colors.astype(np.float32))
        assert np.all((d.colors >= low) & (d.colors <= high))
        env.step(np.zeros(env.action_spec().shape))
        d.after_control_step()
    others = np.arange(model.nmat) != grid
    np.testing.assert_array_equal(model.mat_rgba[others, 3], original[others, 3])  # alpha kept


def test_fixed_camera_circles_the_scene_and_looks_at_it(davis):
    env = _physics("cartpole", "swingup")
    data = env.physics.data
    start, orientation = data.cam_xpos[0].copy(), data.cam_xmat[0].reshape(3, 3).copy()
    target = cam.look_at_point(start, orientation, data.subtree_com[1])
    d = Distractions(env.physics, "cartpole", 0.2, davis)
    d.reset(SEED, 0)
    for _ in range(6):
        position, rotation = d.pose
        assert np.linalg.norm(position) == pytest.approx(d.camera.radius)
        view = -rotation[:, 2]
        np.testing.assert_allclose(view, (target - position) / np.linalg.norm(target - position))
        bounds = d.camera_bounds
        assert bounds.min_radius <= d.camera.radius <= bounds.max_radius
        env.step(np.zeros(1))
        d.after_control_step()
        d.after_control_step()
    assert not np.allclose(d.pose[0], start)


def test_tracking_camera_follows_the_agent(davis):
    env = _physics("walker", "walk")
    d = Distractions(env.physics, "walker", 0.2, davis)
    d.reset(SEED, 0)
    for _ in range(5):
        for _ in range(2):
            env.step(np.full(env.action_spec().shape, 0.5))
            d.after_control_step()
        centre = env.physics.data.subtree_com[1]
        assert np.linalg.norm(d.pose[0] - centre) == pytest.approx(d.camera.radius)


def test_render_uses_the_pose_and_the_frame(davis):
    from dm_control.mujoco import Camera

    env = _physics("walker", "walk")
    physics = env.physics
    camera = Camera(physics, 64, 64, 0)
    plain = camera.render().copy()
    d = Distractions(physics, "walker", 0.2, davis)
    d.reset(SEED, 0)
    d.before_render()
    position, orientation = d.pose
    np.testing.assert_array_equal(physics.data.cam_xpos[0], position)
    np.testing.assert_allclose(physics.data.cam_xmat[0], orientation.ravel())
    want = bg.skybox_texture(bg.load_frame(d.frame_path()))
    np.testing.assert_array_equal(d.skybox_pixels(), want)
    distracted = camera.render().copy()
    assert np.abs(distracted.astype(int) - plain).mean() > 10
    camera._scene.free()


def test_missing_davis_sequences_fail_at_construction(tmp_path):
    davis = write_davis(tmp_path, train=TRAIN_VIDEOS[:2])
    env = _physics("cartpole", "swingup")
    Distractions(env.physics, "cartpole", 0.05, davis)  # 2 videos: fine
    with pytest.raises(MissingData, match="boat"):
        Distractions(env.physics, "cartpole", 0.1, davis)  # 4 videos


def test_unsupported_domain(davis):
    env = _physics("hopper", "hop")
    with pytest.raises(ValueError, match="supports the domains"):
        Distractions(env.physics, "hopper", 0.1, davis)
