"""DMCGBEnv over tasks x modes: spaces, seeding, the benchmark's mode semantics, vector envs."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import dmcgb
from dmcgb import data
from dmcgb.env import DMCGBEnv
from dmcgb.modes import KEY_RGB
from tests.conftest import SEED

OTHER_TASKS = [t for t in dmcgb.TASKS if t not in dmcgb.PAPER_TASKS]


def rollout(env, seed: int, steps: int) -> list[np.ndarray]:
    obs, _ = env.reset(seed=seed)
    frames = [obs]
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        action = rng.uniform(env.action_space.low, env.action_space.high).astype(np.float32)
        obs, *_ = env.step(action)
        frames.append(obs)
    return frames


@pytest.mark.parametrize("mode", list(dmcgb.MODES))
@pytest.mark.parametrize("task", dmcgb.PAPER_TASKS)
def test_paper_tasks_in_every_mode(task: str, mode: str, dmcgb_data):
    env = dmcgb.make(dmcgb.env_id(task, mode))
    check_env(env.unwrapped, skip_render_check=True)
    assert env.observation_space.shape == (84, 84, 3)
    assert env.observation_space.dtype == np.uint8
    first = rollout(env, SEED, 3)
    second = rollout(env, SEED, 3)
    for a, b in zip(first, second, strict=True):
        assert a in env.observation_space
        np.testing.assert_array_equal(a, b)
    env.close()


@pytest.mark.parametrize("mode", ["train", "colorhard"])
@pytest.mark.parametrize("task", OTHER_TASKS)
def test_other_tasks(task: str, mode: str, dmcgb_data):
    env = dmcgb.make(dmcgb.env_id(task, mode))
    a, b = rollout(env, SEED, 2), rollout(env, SEED, 2)
    for x, y in zip(a, b, strict=True):
        assert x in env.observation_space
        np.testing.assert_array_equal(x, y)
    assert a[-1].std() > 5, "the frame should show a scene, not a flat colour"
    env.close()


def test_episode_is_1000_control_steps_and_ends_truncated():
    env = DMCGBEnv("CartpoleSwingup")
    env.reset(seed=SEED)
    env.defer_render = True  # only the last step renders: keeps the test fast
    action = np.zeros(env.action_space.shape, np.float32)
    for step in range(1, 1001):
        obs, reward, terminated, truncated, _ = env.step(action)
        assert not terminated
        assert truncated == (step == 1000)
    env.close()


def test_observation_comes_from_the_benchmark_camera():
    env = DMCGBEnv("WalkerWalk")
    obs, _ = env.reset(seed=SEED)
    expected = env.physics.render(84, 84, camera_id=0)
    np.testing.assert_array_equal(obs, expected)
    env.close()


def test_color_draws_follow_a_random_state_seeded_with_the_env_seed(dmcgb_data):
    env = DMCGBEnv("WalkerWalk", "coloreasy")
    colors = data.load_colors("color_easy")
    assert len(colors) == 100
    expected = np.random.RandomState(SEED)
    model = env.physics.model.ptr
    self_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_MATERIAL, "self")
    for episode in range(3):
        _, info = env.reset(seed=SEED if episode == 0 else None)
        index = expected.randint(100)
        assert info["color_index"] == index
        np.testing.assert_allclose(model.mat_rgba[self_id][:3], colors[index]["self_rgb"][:3], atol=1e-6)
        assert model.mat_rgba[self_id][3] == 1.0
    env.close()


def _benchmark_model(domain: str, textures: dict, self_rgb=None) -> mujoco.MjModel:
    """Recompile the domain's XML with colours edited into the common assets, as
    DMControl-GB does (its settings.get_model_and_assets_from_setting_kwargs).

    textures: texture name -> attribute -> RGB.
    """
    import xml.etree.ElementTree as ET

    from dm_control.suite import common

    def fmt(v):
        return " ".join(str(float(c)) for c in v[:3])

    assets = dict(common.ASSETS)
    for filename in ("./common/materials.xml", "./common/skybox.xml"):
        root = ET.fromstring(assets[filename])
        for name, attributes in textures.items():
            element = root.find(f"asset/texture[@name='{name}']")
            for attribute, rgb in ([] if element is None else attributes.items()):
                element.set(attribute, fmt(rgb))
        material = root.find("asset/material[@name='self']")
        if material is not None and self_rgb is not None:
            material.set("rgba", fmt(self_rgb) + " 1")
        assets[filename] = ET.tostring(root)
    return mujoco.MjModel.from_xml_string(common.read_model(f"{domain}.xml"), assets)


def test_recolouring_equals_the_benchmark_recompile_and_keeps_physics_state(dmcgb_data):
    env = DMCGBEnv("CartpoleSwingup", "colorhard")
    env.reset(seed=SEED)
    for _ in range(5):
        env.step(env.action_space.sample())
    state = env.physics.get_state().copy()
    setting = data.load_colors("color_hard")[7]
    env._scene.apply_setting(setting)
    np.testing.assert_array_equal(env.physics.get_state(), state)
    reference = _benchmark_model(
        "cartpole",
        {
            "grid": {"rgb1": setting["grid_rgb1"], "rgb2": setting["grid_rgb2"]},
            "skybox": {"rgb1": setting["skybox_rgb"]},
        },
        self_rgb=setting["self_rgb"],
    )
    model = env.physics.model.ptr
    np.testing.assert_array_equal(model.tex_data, reference.tex_data)
    np.testing.assert_array_equal(model.mat_rgba, reference.mat_rgba)
    env.close()


@pytest.mark.parametrize("mode, floor_keyed", [("videoeasy", False), ("videohard", True)])
def test_video_modes_paint_the_key_colour(mode: str, floor_keyed: bool, dmcgb_data):
    env = DMCGBEnv("WalkerWalk", mode)
    model = env.physics.model.ptr
    keyed = {"rgb1": KEY_RGB, "rgb2": KEY_RGB, "markrgb": KEY_RGB}
    textures = {"skybox": keyed, **({"grid": keyed} if floor_keyed else {})}
    reference = _benchmark_model("walker", textures)
    np.testing.assert_array_equal(model.tex_data, reference.tex_data)
    key = np.round(np.array(KEY_RGB) * 255)

    def texture(name):
        i = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_TEXTURE, name)
        start, size = model.tex_adr[i], model.tex_width[i] * model.tex_height[i] * 3
        return model.tex_data[start : start + size].reshape(-1, 3).astype(float)

    assert np.abs(texture("skybox") - key).max() <= 1
    assert (np.abs(texture("grid") - key).max() <= 1) == floor_keyed
    env.close()


def test_video_sequence_and_background_frames(dmcgb_data):
    env = DMCGBEnv("WalkerWalk", "videohard")
    indices = []
    for episode in range(3):
        _, info = env.reset(seed=SEED if episode == 0 else None)
        indices.append(info["video_index"])
        assert info["video_frame"] == 0
        for step in range(1, 3):
            _, _, _, _, info = env.step(env.action_space.sample())
            assert info["video_frame"] == step
    assert indices == [1, 2, 3]  # episode k shows video k mod 100
    _, info = env.reset(seed=SEED)
    assert info["video_index"] == 1  # a seeded reset restarts the sequence
    env.close()


def test_video_episodes_wrap_and_reuse_decoded_videos(dmcgb_data, monkeypatch):
    from dmcgb import video

    env = DMCGBEnv("CartpoleSwingup", "videoeasy")
    # video_easy in the shared copy lacks video3..5 and 7: use episodes 8, 9, 10 -> videos 8, 9, 0
    env.reset(seed=SEED)
    env._episode = 7
    seen = [env.reset()[1]["video_index"] for _ in range(3)]
    assert seen == [8, 9, 0]
    decoded = []
    real_load = video.load_video
    monkeypatch.setattr(video, "load_video", lambda path: decoded.append(path) or real_load(path))
    env._episode = 7
    again = [env.reset()[1]["video_index"] for _ in range(3)]
    assert again == seen and decoded == []  # served from the cache, no disk access
    env.close()


def test_render_is_the_composited_scene_at_render_size(dmcgb_data):
    env = DMCGBEnv("WalkerWalk", "videohard", render_mode="rgb_array", render_size=160)
    obs, _ = env.reset(seed=SEED)
    frame = env.render()
    assert frame.shape == (160, 160, 3) and frame.dtype == np.uint8
    from dmcgb.chroma_key import key_mask

    raw = env._camera(160).render()
    assert key_mask(raw).mean() > 0.3  # the raw scene is mostly green screen
    assert key_mask(frame).mean() < 0.05  # the composite shows the video instead
    env.close()


def test_missing_video_names_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("DMCGB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DMCGB_OFFLINE", "1")
    env = DMCGBEnv("WalkerWalk", "videohard")
    with pytest.raises(dmcgb.errors.MissingData, match="python -m dmcgb.data fetch"):
        env.reset(seed=SEED)
    env.close()
