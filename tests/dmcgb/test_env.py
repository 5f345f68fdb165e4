"""DMCGBEnv over tasks x modes: spaces, seeding, the benchmark's mode semantics, vector envs."""

from __future__ import annotations

import dataclasses
import gc

import gymnasium as gym
import mujoco
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import dmcgb
from dmcgb import data
from dmcgb.env import DMCGBEnv
from dmcgb.errors import ChecksumError, CorruptData
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


def _every_mode() -> list:
    """Every mode; six of the eight fixed distractingcs intensities and five of the six
    geometric modes are slow-only (they differ from the quick ones only in numbers that
    tests/dmcgb/test_distracting.py and test_geometric.py pin)."""
    quick = {"distractingcs0.1", "distractingcs0.5", "rotateshifthard"}
    variants = {n for n, m in dmcgb.MODES.items() if m.kwargs.get("intensity") is not None}
    variants |= set(dmcgb.GEOMETRIC_MODES)
    return [
        pytest.param(name, marks=pytest.mark.slow) if name in variants - quick else name
        for name in dmcgb.MODES
    ]


@pytest.mark.parametrize("mode", _every_mode())
@pytest.mark.parametrize("task", dmcgb.PAPER_TASKS)
def test_paper_tasks_in_every_mode(task: str, mode: str, dmcgb_data):
    arguments = {"intensity": 0.1} if mode == "distractingcs" else {}  # its required argument
    env = dmcgb.make(dmcgb.env_id(task, mode), **arguments)
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


@pytest.mark.parametrize("repeat", [1, 3, 4, 8])
def test_episode_length_in_agent_steps_as_the_benchmark(repeat: int):
    """dmc2gym (the benchmark's fork) registers max_episode_steps = (1000 + r - 1) // r and
    lets each agent step run r control steps: 334 x 3 = 1002 control steps at r = 3."""
    benchmark_steps = (1000 + repeat - 1) // repeat
    env = DMCGBEnv("CartpoleSwingup", image_size=8, action_repeat=repeat)
    env._render = lambda size: np.zeros((size, size, 3), np.uint8)  # counting, not pixels
    env.reset(seed=SEED)
    action = np.zeros(env.action_space.shape, np.float32)
    steps, truncated = 0, False
    while not truncated:
        obs, reward, terminated, truncated, _ = env.step(action)
        steps += 1
        assert not terminated
    assert steps == benchmark_steps == env.max_episode_steps
    control_timestep = 0.01  # s, cartpole
    assert env.physics.data.time == pytest.approx(benchmark_steps * repeat * control_timestep)
    with pytest.raises(gym.error.ResetNeeded):
        env.step(action)
    assert gym.spec("dmcgb/CartpoleSwingup-train-v0").max_episode_steps is None  # no TimeLimit
    env.close()


def test_action_repeat_sums_control_steps_and_renders_once_per_agent_step():
    repeated = DMCGBEnv("CartpoleSwingup", action_repeat=4)
    plain = DMCGBEnv("CartpoleSwingup")
    renders = []
    render = repeated._render
    repeated._render = lambda size: renders.append(size) or render(size)
    repeated.reset(seed=SEED)
    plain.reset(seed=SEED)
    rng = np.random.default_rng(SEED)
    for _ in range(5):
        action = rng.uniform(-1, 1, repeated.action_space.shape).astype(np.float32)
        obs, reward, *_ = repeated.step(action)
        expected = 0.0
        for _ in range(4):
            plain_obs, r, *_ = plain.step(action)
            expected += r
        assert reward == pytest.approx(expected, abs=1e-12)
        np.testing.assert_array_equal(obs, plain_obs)
    assert len(renders) == 1 + 5
    repeated.close()
    plain.close()


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_action_is_refused_before_the_physics_moves(bad: float):
    env = DMCGBEnv("WalkerWalk", image_size=16, action_repeat=2)
    env.reset(seed=SEED)
    state = env.physics.get_state().copy()
    action = np.zeros(env.action_space.shape, np.float32)
    action[3] = bad
    with pytest.raises(ValueError, match=r"NaN or infinity at index \[3\]"):
        env.step(action)
    np.testing.assert_array_equal(env.physics.get_state(), state)
    with pytest.raises(ValueError, match="expected an action of shape"):
        env.step(np.zeros(2, np.float32))
    env.close()


@pytest.mark.parametrize("task", ["CartpoleSwingup", "WalkerWalk"])
def test_an_out_of_range_action_acts_exactly_as_the_clipped_action(task: str):
    """What step() documents (CartpoleSwingup's reward reads the control)."""
    outcomes = []
    for clip_by_hand in (False, True):
        env = DMCGBEnv(task, image_size=16, action_repeat=2)
        env.reset(seed=SEED)
        action = np.resize([1e6, -1e6, 0.25], env.action_space.shape)
        if clip_by_hand:
            action = np.clip(action, env.action_space.low, env.action_space.high)
        obs, reward, *_ = env.step(action.astype(np.float32))
        physics = env.physics
        outcomes.append((physics.get_state().copy(), physics.control().copy(), reward, obs))
        env.close()
    for got, clipped in zip(*outcomes, strict=True):  # state, control, reward, observation
        np.testing.assert_array_equal(got, clipped)


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


class BenchmarkVideoWrapper:
    """The video choice of DMControl-GB's VideoWrapper (src/env/wrappers.py at ff9c0aa): the
    index starts at 0 when the env is made, and every reset first advances it, then loads that
    video. The evaluation env is made (seeded) once and never reseeded (src/eval.py), so its
    k-th episode shows video (k + 1) mod n."""

    def __init__(self, num_videos: int) -> None:
        self._index, self._num_videos = 0, num_videos

    def reset(self) -> int:
        self._index = (self._index + 1) % self._num_videos
        return self._index


def test_video_sequence_is_the_benchmarks(dmcgb_data):
    env = DMCGBEnv("WalkerWalk", "videoeasy", image_size=16, action_repeat=8)
    benchmark = BenchmarkVideoWrapper(10)
    for episode in range(12):  # past the wrap-around
        _, info = env.reset(seed=SEED if episode == 0 else None)
        assert info["video_index"] == benchmark.reset()
        assert info["video_frame"] == 0
    for step in range(1, 3):
        _, _, _, _, info = env.step(env.action_space.sample())
        assert info["video_frame"] == step  # one background frame per agent step
    _, info = env.reset(seed=SEED)
    assert info["video_index"] == 1  # a seeded reset restarts the sequence
    env.close()


def test_episode_option_makes_the_kth_episode_of_the_sequence(dmcgb_data):
    env = DMCGBEnv("CartpoleSwingup", "videohard", image_size=16, action_repeat=8)
    for k in (0, 5, 98, 99, 100, 250):
        _, info = env.reset(seed=SEED, options={"episode": k})
        assert info["video_index"] == (k + 1) % 100
    # Same seed and k: the same episode, frame for frame.
    first = env.reset(seed=7, options={"episode": 3})[0]
    again = env.reset(seed=7, options={"episode": 3})[0]
    np.testing.assert_array_equal(first, again)
    # Without a seed the option only moves the sequence; reset() continues after it.
    _, info = env.reset(options={"episode": 41})
    assert info["video_index"] == 42
    assert env.reset()[1]["video_index"] == 43
    # reset(seed) then reset() twice shows what reset(seed, episode=2) shows.
    env.reset(seed=SEED)
    env.reset()
    continued = env.reset()[1]
    jumped = env.reset(seed=SEED, options={"episode": 2})[1]
    assert continued == jumped
    for bad in (-1, 1.5, "3", True):
        with pytest.raises(ValueError, match=r"options\['episode'\]"):
            env.reset(seed=SEED, options={"episode": bad})
    env.close()


@pytest.mark.parametrize("mode", ["train", "coloreasy"])
def test_episode_option_does_not_change_non_video_modes(mode: str, dmcgb_data):
    env = DMCGBEnv("CartpoleSwingup", mode, image_size=16)
    plain = env.reset(seed=SEED)
    with_option = env.reset(seed=SEED, options={"episode": 17})
    np.testing.assert_array_equal(plain[0], with_option[0])
    assert plain[1] == with_option[1]
    env.close()


def test_video_modes_keep_only_what_the_next_episodes_need(dmcgb_data):
    """Per env: this episode's video, the next one and episode 0's, each cut to the frames an
    episode can show; shared between envs of a process; nothing else kept."""
    from dmcgb.video import VIDEO_CACHE

    frame_bytes = 84 * 84 * 3
    gc.collect()
    baseline = VIDEO_CACHE.held_bytes()
    a = DMCGBEnv("WalkerWalk", "videohard", action_repeat=4)
    b = DMCGBEnv("WalkerWalk", "videohard", action_repeat=4)
    a.reset(seed=SEED)
    b.reset(seed=SEED)
    assert a._background.result() is b._background.result()  # one copy for both
    assert a._background.result().shape == (251, 84, 84, 3)  # frames 0..250 of 500
    for _ in range(4):
        a.reset()
    [f.result() for env in (a, b) for f in env._held.values()]  # the prefetches are done
    videos = {a.video_index(0), a.video_index(a._episode), a.video_index(a._episode + 1)}
    videos |= {b.video_index(0), b.video_index(b._episode + 1)}
    gc.collect()
    assert VIDEO_CACHE.held_bytes() - baseline == len(videos) * 251 * frame_bytes
    a.close()
    b.close()
    gc.collect()
    assert VIDEO_CACHE.held_bytes() == baseline  # freed with the envs that held them


def test_a_video_that_decodes_short_names_the_file_and_the_fix(dmcgb_data, monkeypatch):
    # The manifest says video 1 holds 600 frames; the file holds 500.
    name = "video_hard/video1.mp4"
    monkeypatch.setitem(data.ASSETS, name, dataclasses.replace(data.ASSETS[name], frames=600))
    env = DMCGBEnv("WalkerWalk", "videohard", image_size=16, action_repeat=1)
    with pytest.raises(CorruptData) as info:
        env.reset(seed=SEED)
    message = str(info.value)
    assert "video1.mp4" in message and "500 of the 600" in message
    assert "python -m dmcgb.data fetch video_hard" in message
    env.close()


def test_a_damaged_cached_video_is_refused_before_it_is_decoded(tmp_path, dmcgb_data, monkeypatch):
    root = tmp_path / "data"
    (root / "video_hard").mkdir(parents=True)
    good = (dmcgb_data / "video_hard" / "video1.mp4").read_bytes()
    damaged = good[: len(good) // 2] + bytes(len(good) - len(good) // 2)  # same size
    (root / "video_hard" / "video1.mp4").write_bytes(damaged)
    monkeypatch.setenv("DMCGB_DATA_DIR", str(root))
    env = DMCGBEnv("WalkerWalk", "videohard", image_size=16)
    with pytest.raises(ChecksumError) as info:
        env.reset(seed=SEED)
    assert "video1.mp4" in str(info.value)
    assert "python -m dmcgb.data fetch video_hard" in str(info.value)
    env.close()


def test_render_is_the_composited_scene_at_render_size(dmcgb_data):
    env = DMCGBEnv("WalkerWalk", "videohard", render_mode="rgb_array", render_size=160)
    with pytest.raises(gym.error.ResetNeeded, match="reset"):
        env.render()
    obs, _ = env.reset(seed=SEED)
    frame = env.render()
    assert frame.shape == (160, 160, 3) and frame.dtype == np.uint8
    from dmcgb.chroma_key import key_mask

    raw = env._camera(160).render()
    assert key_mask(raw).mean() > 0.3  # the raw scene is mostly green screen
    assert key_mask(frame).mean() < 0.05  # the composite shows the video instead
    # After two steps the background is frame 2 of this episode's video, at render size.
    from dmcgb.video import read_frames

    env.step(env.action_space.sample())
    env.step(env.action_space.sample())
    raw = env._camera(160).render().copy()
    frame = env.render()
    mask = key_mask(raw)
    video = read_frames(dmcgb_data / "video_hard" / f"video{env._video_index}.mp4", 160, 3)
    np.testing.assert_array_equal(frame[mask], video[2][mask])
    np.testing.assert_array_equal(frame[~mask], raw[~mask])
    env.close()


def test_missing_video_names_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("DMCGB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DMCGB_OFFLINE", "1")
    env = DMCGBEnv("WalkerWalk", "videohard")
    with pytest.raises(dmcgb.errors.MissingData, match="python -m dmcgb.data fetch"):
        env.reset(seed=SEED)
    env.close()
