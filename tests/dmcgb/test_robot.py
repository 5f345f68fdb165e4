"""Tests of the robot manipulation envs (dmcgb.robot): spec, tasks, variants, rendering."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import mujoco
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from dmcgb.errors import UnknownTask
from dmcgb.robot import (
    EPISODE_LENGTH,
    ROBOT_TASKS,
    ROBOT_VARIANTS,
    TASKS,
    gallery,
    physics,
    scene,
    tasks,
    textures,
)
from dmcgb.robot.env import ACTION_SCALE, RobotEnv
from dmcgb.robot.variants import TABLE_SURFACES, VARIANTS
from tests.conftest import SEED

TASK_NAMES = tuple(TASKS)
EPISODE_STEPS = EPISODE_LENGTH  # agent steps at action repeat 1


def _make(task: str, variant: str = "train", **kwargs) -> RobotEnv:
    return RobotEnv(task, variant, **kwargs)


def _scripted_action(env: RobotEnv) -> np.ndarray:
    """Move the gripper straight toward the goal disc / box opening read from the simulator."""
    target_site = "goal" if env.task_name == "reach" else "box_opening"
    offset = env.physics.site_pos(target_site)[:2] - env.physics.ee_pos()[:2]
    return np.clip(offset / ACTION_SCALE, -1.0, 1.0).astype(np.float32)


def _without_rendering(env: RobotEnv) -> RobotEnv:
    """Skip the camera in tests about physics and rewards: a robot frame costs tens of ms
    on a busy CPU (shadow map and meshes, whatever the image size)."""
    blank = np.zeros(env.observation_space.shape, np.uint8)
    env._render_frame = lambda size: blank
    return env


def _run_episode(env: RobotEnv, seed: int, policy) -> tuple[list[float], bool]:
    """Run one full episode."""
    env.reset(seed=seed)
    rewards, truncated, info = [], False, {}
    while not truncated:
        _, reward, terminated, truncated, info = env.step(policy(env))
        assert not terminated
        rewards.append(reward)
    return rewards, info["is_success"]


# --- numbers the benchmark depends on ------------------------------------------------------


def test_pinned_numbers() -> None:
    assert ACTION_SCALE == 0.05
    assert EPISODE_LENGTH == 50
    assert physics.CONTROL_TIMESTEP == pytest.approx(0.04)
    assert tasks.REACH_THRESHOLD == 0.05
    assert tasks.PEG_XY_THRESHOLD == 0.05
    assert tasks.PEG_SUCCESS_THRESHOLD == 0.08
    assert ROBOT_TASKS == {"RobotReach": "reach", "RobotPegInBox": "peg_in_box"}
    assert ROBOT_VARIANTS == ("train", "test1", "test2", "test3", "test4", "test5")
    tints = {name: v.tint for name, v in VARIANTS.items()}
    assert tints == {
        "train": (1.0, 1.0, 1.0),
        "test1": (1.0, 0.5, 1.0),
        "test2": (0.5, 0.9, 0.8),
        "test3": (0.5, 0.1, 0.1),
        "test4": (0.1, 0.5, 0.8),
        "test5": (0.3, 0.2, 0.0),
    }
    surfaces = {name: v.table_surface for name, v in VARIANTS.items()}
    assert surfaces["test1"] == surfaces["train"]
    assert [surfaces[f"test{i}"] for i in range(2, 6)] == ["carpet", "concrete", "wood", "sponge"]


def test_default_spaces_and_arm() -> None:
    env = _make("reach")
    try:
        assert env.observation_space == gym.spaces.Box(0, 255, (84, 84, 3), np.uint8)
        assert env.action_space == gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        # A 7-DoF arm (the Fetch arm's joints), driven through one mocap body.
        assert env.physics.model.nq == 7 and env.physics.model.nmocap == 2
        obs, info = env.reset(seed=SEED)
        assert obs.dtype == np.uint8 and obs.shape == (84, 84, 3)
        assert env.observation_space.contains(obs)
        assert info == {"is_success": False}
    finally:
        env.close()


# --- Gymnasium conformance -----------------------------------------------------------------


@pytest.mark.parametrize("variant", ROBOT_VARIANTS)
@pytest.mark.parametrize("task", TASK_NAMES)
def test_check_env(task: str, variant: str) -> None:
    env = _make(task, variant)
    try:
        check_env(env, skip_render_check=True)
    finally:
        env.close()


def test_sync_vector_env() -> None:
    envs = gym.vector.SyncVectorEnv(
        [lambda: _make("reach", "train"), lambda: _make("reach", "test3")]
    )
    try:
        obs, _ = envs.reset(seed=SEED)
        assert obs.shape == (2, 84, 84, 3) and obs.dtype == np.uint8
        obs, rewards, terminated, truncated, infos = envs.step(envs.action_space.sample())
        assert obs.shape == (2, 84, 84, 3) and rewards.shape == (2,)
        assert not terminated.any() and not truncated.any()
        # Same seed offsets, same goal: the train and test3 envs differ only in looks.
        assert not np.array_equal(obs[0], obs[1])
    finally:
        envs.close()


def test_async_vector_env_from_registered_id() -> None:
    env_id = "dmcgb/RobotPegInBox-test2-v0"
    if env_id not in gym.registry:
        gym.register(
            env_id,
            entry_point="dmcgb.robot.env:RobotEnv",
            kwargs={"task": "peg_in_box", "variant": "test2"},
        )
    envs = gym.make_vec(
        env_id, num_envs=2, vectorization_mode="async", vector_kwargs={"context": "spawn"}
    )
    try:
        obs, infos = envs.reset(seed=SEED)
        assert obs.shape == (2, 84, 84, 3)
        obs, rewards, _, _, infos = envs.step(np.zeros((2, 2), np.float32))
        assert np.isfinite(rewards).all() and infos["is_success"].shape == (2,)
    finally:
        envs.close()


# --- episode protocol ----------------------------------------------------------------------


def test_truncation_at_50_steps_and_reset_needed() -> None:
    env = _without_rendering(_make("reach"))
    try:
        env.reset(seed=SEED)
        for step in range(1, EPISODE_STEPS + 1):
            _, _, terminated, truncated, _ = env.step(np.zeros(2, np.float32))
            assert not terminated
            assert truncated == (step == EPISODE_STEPS)
        with pytest.raises(gym.error.ResetNeeded):
            env.step(np.zeros(2, np.float32))
        env.reset(seed=SEED)
        _, _, _, truncated, _ = env.step(np.zeros(2, np.float32))
        assert not truncated
    finally:
        env.close()


def test_step_before_reset_is_an_error() -> None:
    env = _make("reach")
    try:
        with pytest.raises(gym.error.ResetNeeded, match="reset"):
            env.step(np.zeros(2, np.float32))
    finally:
        env.close()


@pytest.mark.parametrize("repeat", [2, 3])
def test_action_repeat_sums_control_steps_and_renders_once(repeat: int) -> None:
    """An agent step of repeat r equals r control steps of a repeat-1 env, and the episode
    lasts ceil(50 / r) agent steps."""
    actions = np.random.default_rng(SEED).uniform(-1, 1, (EPISODE_STEPS, 2)).astype(np.float32)
    single = _without_rendering(_make("peg_in_box"))  # the reference for physics and rewards
    repeated = _make("peg_in_box", action_repeat=repeat)
    renders = []
    render_frame = repeated._render_frame
    repeated._render_frame = lambda size: renders.append(size) or render_frame(size)
    try:
        single.reset(seed=SEED)
        repeated.reset(seed=SEED)
        np.testing.assert_array_equal(repeated.physics.data.qpos, single.physics.data.qpos)
        steps, truncated = 0, False
        while not truncated:
            action = actions[steps]
            obs, reward, _, truncated, info = repeated.step(action)
            steps += 1
            if steps * repeat > EPISODE_STEPS:
                break  # the repeat-1 env ends at 50 control steps; this agent step goes past
            expected = sum(single.step(action)[1] for _ in range(repeat))
            assert reward == pytest.approx(expected, abs=1e-12)
            np.testing.assert_array_equal(repeated.physics.data.qpos, single.physics.data.qpos)
        while not truncated:
            *_, truncated, _ = repeated.step(actions[steps])
            steps += 1
        assert steps == -(-EPISODE_STEPS // repeat) == repeated.max_episode_steps
        assert len(renders) == 1 + steps  # the reset frame, then one per agent step
    finally:
        single.close()
        repeated.close()


@pytest.mark.parametrize("task", TASK_NAMES)
def test_same_seed_same_actions_same_observations(task: str) -> None:
    actions = np.random.default_rng(SEED).uniform(-1, 1, (6, 2)).astype(np.float32)

    def rollout(seed: int) -> list[np.ndarray]:
        env = _make(task)
        try:
            frames = [env.reset(seed=seed)[0]]
            frames += [env.step(a)[0] for a in actions]
            return frames
        finally:
            env.close()

    first, again, other = rollout(SEED), rollout(SEED), rollout(SEED + 1)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])  # another seed puts the goal elsewhere
    assert all(frame is not first[0] for frame in first[1:])  # no shared frame buffers


def test_render_gives_larger_frames_of_the_same_view() -> None:
    env = _make("reach", render_mode="rgb_array", image_size=64, render_size=128)
    try:
        obs, _ = env.reset(seed=SEED)
        frame = env.render()
        assert obs.shape == (64, 64, 3) and frame.shape == (128, 128, 3)
        assert frame.dtype == np.uint8
        # Same camera: the big frame, shrunk 2x2, looks like the observation.
        shrunk = frame.reshape(64, 2, 64, 2, 3).mean(axis=(1, 3))
        assert np.abs(shrunk - obs.astype(float)).mean() < 12.0
    finally:
        env.close()


def test_render_without_render_mode_warns_and_returns_none() -> None:
    env = _make("reach")
    try:
        env.reset(seed=SEED)
        with pytest.warns(UserWarning, match="render_mode"):
            assert env.render() is None
    finally:
        env.close()


# --- tasks: reward and success are real ----------------------------------------------------


def test_scripted_controller_solves_reach_and_random_policy_mostly_does_not() -> None:
    env = _without_rendering(_make("reach"))
    env.action_space.seed(SEED)
    try:
        scripted = [_run_episode(env, SEED + i, _scripted_action) for i in range(10)]
        random = [_run_episode(env, SEED + i, lambda e: e.action_space.sample()) for i in range(10)]
    finally:
        env.close()
    assert sum(success for _, success in scripted) >= 8
    assert sum(success for _, success in random) <= 3
    # Reaching pays 1 per step once there; wandering pays negative rewards.
    assert np.mean([sum(r) for r, _ in scripted]) > 10.0
    assert np.mean([sum(r) for r, _ in random]) < 0.0


def test_reach_reward_formula_and_sticky_success() -> None:
    env = _without_rendering(_make("reach"))
    try:
        env.reset(seed=SEED)
        action = np.array([0.3, -0.4], np.float32)
        _, reward, _, _, info = env.step(action)
        d = np.linalg.norm(env.physics.ee_pos()[:2] - env.physics.site_pos("goal")[:2])
        assert d >= 0.05 and not info["is_success"]
        assert reward == round(-3 * d - 0.5 * 0.25, 4)
        while env.task.distance(env.physics) >= 0.05:
            _, reward, _, _, info = env.step(_scripted_action(env))
        assert reward == 1.0 and info["is_success"]
        # Leave the goal: the reward drops, success stays true for the rest of the episode.
        truncated = False
        while not truncated:
            _, reward, _, truncated, info = env.step(np.array([0.0, 1.0], np.float32))
            assert info["is_success"]
        assert reward < 0.0
    finally:
        env.close()


def test_peg_in_box_reward_increases_as_the_peg_approaches_the_box() -> None:
    env = _without_rendering(_make("peg_in_box"))
    away = lambda e: -_scripted_action(e)  # noqa: E731
    still = lambda e: np.zeros(2, np.float32)  # noqa: E731
    try:
        returns = {}
        for name, policy in (("approach", _scripted_action), ("still", still), ("away", away)):
            episodes = [_run_episode(env, SEED + i, policy) for i in range(3)]
            returns[name] = np.mean([sum(r[-10:]) for r, _ in episodes])
            if name == "approach":
                assert all(success for _, success in episodes)
            else:
                assert not any(success for _, success in episodes)
        assert returns["approach"] > returns["still"] > returns["away"]
        assert returns["approach"] > 10 * 8.0  # the "over the box" bonus is being paid

        # Along one approach the reward tracks the peg-to-opening x-y distance.
        env.reset(seed=SEED)
        distances, rewards = [], []
        for _ in range(15):
            action = 0.5 * _scripted_action(env)
            _, reward, _, _, _ = env.step(action)
            d_xy, d_xyz = env.task.distances(env.physics)
            expected = -np.sum(np.square(action.astype(np.float64))) - 4 * d_xy
            expected += (10 - 20 * d_xyz) if d_xy <= 0.05 else 0.0
            assert reward == pytest.approx(expected, abs=1e-9)
            distances.append(d_xy)
            rewards.append(reward)
        assert np.corrcoef(distances, rewards)[0, 1] < -0.8
    finally:
        env.close()


def test_end_effector_stays_at_its_height_inside_the_workspace() -> None:
    env = _without_rendering(_make("reach"))
    try:
        env.reset(seed=SEED)
        for direction in ([1.0, 1.0], [-1.0, -1.0]):
            for _ in range(20):
                env.step(np.array(direction, np.float32))
            target = env.physics.ee_target()
            assert np.all(target[:2] >= physics.WORKSPACE_LOW - 1e-12)
            assert np.all(target[:2] <= physics.WORKSPACE_HIGH + 1e-12)
            assert target[2] == pytest.approx(tasks.REACH_EE_HEIGHT)
            ee = env.physics.ee_pos()
            assert ee[2] == pytest.approx(tasks.REACH_EE_HEIGHT, abs=0.01)
            assert np.linalg.norm(ee[:2] - target[:2]) < 0.02  # the arm has followed
            assert ee[2] > scene.TABLE_TOP_Z
    finally:
        env.close()


# --- variants: appearance only ---------------------------------------------------------------


def _robot_geom_ids(model: mujoco.MjModel) -> np.ndarray:
    root = model.body(scene.ROBOT_ROOT_BODY).id
    return np.flatnonzero(model.body_rootid[model.geom_bodyid] == root)


def _erode(mask: np.ndarray) -> np.ndarray:
    """Keep pixels whose 8 neighbours are in the mask too (edges are anti-aliased)."""
    padded = np.pad(mask, 1)
    out = mask.copy()
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            out &= padded[1 + dy : 1 + dy + mask.shape[0], 1 + dx : 1 + dx + mask.shape[1]]
    return out


@pytest.mark.parametrize("task", TASK_NAMES)
def test_variants_change_background_but_not_robot_pixels(task: str) -> None:
    actions = np.random.default_rng(SEED).uniform(-1, 1, (5, 2)).astype(np.float32)
    frames, masks = {}, {}
    for variant in ROBOT_VARIANTS:
        env = _make(task, variant)
        try:
            env.reset(seed=SEED)
            for action in actions:
                obs, *_ = env.step(action)
            seg = env.render_segmentation()
            robot = np.isin(seg[..., 0], _robot_geom_ids(env.physics.model))
            masks[variant] = robot & (seg[..., 1] == mujoco.mjtObj.mjOBJ_GEOM)
            frames[variant] = obs.astype(int)
        finally:
            env.close()
    train_mask = masks["train"]
    assert 0.05 < train_mask.mean() < 0.6  # the robot is in view, and not all of it
    inner = _erode(train_mask)
    background = ~train_mask
    for variant in ROBOT_VARIANTS[1:]:
        np.testing.assert_array_equal(masks[variant], train_mask)
        np.testing.assert_array_equal(frames[variant][inner], frames["train"][inner])
        diff = np.abs(frames[variant] - frames["train"]).sum(axis=-1)
        assert (diff[background] > 30).mean() > 0.5, variant
    # The test scenes differ from each other too, not only from train.
    for a, b in zip(ROBOT_VARIANTS[1:], ROBOT_VARIANTS[2:], strict=False):
        assert np.abs(frames[a] - frames[b])[background].mean() > 10, (a, b)


_PHYSICS_FIELDS = (
    "opt.timestep",
    "body_mass",
    "body_inertia",
    "body_pos",
    "geom_size",
    "geom_pos",
    "geom_contype",
    "geom_conaffinity",
    "jnt_range",
    "dof_damping",
    "eq_data",
    "tendon_range",
)


@pytest.mark.parametrize("task", TASK_NAMES)
def test_variants_share_physics(task: str) -> None:
    actions = np.random.default_rng(SEED).uniform(-1, 1, (10, 2)).astype(np.float32)
    reference = None
    for variant in ROBOT_VARIANTS:
        env = _without_rendering(_make(task, variant))
        try:
            env.reset(seed=SEED)
            trajectory = []
            for action in actions:
                env.step(action)
                trajectory.append(env.physics.data.qpos.copy())
            model = env.physics.model
            fields = {}
            for field in _PHYSICS_FIELDS:
                owner, _, name = field.rpartition(".")
                fields[field] = np.copy(getattr(model.opt if owner else model, name))
        finally:
            env.close()
        if reference is None:
            reference = (trajectory, fields)
            continue
        for qpos, expected in zip(trajectory, reference[0], strict=True):
            np.testing.assert_array_equal(qpos, expected)
        for field in _PHYSICS_FIELDS:
            np.testing.assert_array_equal(fields[field], reference[1][field], err_msg=field)


# --- textures, gallery, bad input ------------------------------------------------------------


def test_table_textures_are_distinct_deterministic_images() -> None:
    images = {surface: textures.table_texture(surface, size=64) for surface in TABLE_SURFACES}
    for surface, image in images.items():
        assert image.shape == (64, 64, 3) and image.dtype == np.uint8
        np.testing.assert_array_equal(image, textures.table_texture(surface, size=64))
    means = [image.mean() for image in images.values()]
    assert len({round(m) for m in means}) == len(means)
    assert images["carpet"].mean() < images["smooth"].mean()  # dark carpet, light laminate
    with pytest.raises(ValueError, match="expected one of"):
        textures.table_texture("marble")


def test_gallery_renders_all_variants(tmp_path: Path) -> None:
    image = gallery.render_gallery(seed=SEED, tile_size=32)
    assert image.width > 32 * len(ROBOT_VARIANTS) and image.height > 32 * 2
    out = tmp_path / "docs" / "gallery.png"
    gallery.save_png(image, out)
    assert out.is_file() and out.stat().st_size < 300_000
    assert not list(out.parent.glob("*.tmp"))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"task": "rech"}, UnknownTask, "unknown robot task 'rech'"),
        ({"task": "reach", "variant": "test9"}, UnknownTask, "unknown robot variant 'test9'"),
        ({"task": "reach", "render_mode": "human"}, ValueError, "render_mode"),
        ({"task": "reach", "image_size": 0}, ValueError, "image_size"),
        ({"task": "reach", "render_size": 8.5}, ValueError, "render_size"),
    ],
)
def test_bad_arguments_name_the_problem(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        RobotEnv(**kwargs)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_action_is_refused_before_the_physics_moves(bad: float) -> None:
    env = _without_rendering(_make("reach"))
    try:
        env.reset(seed=SEED)
        env.step(np.array([0.5, 0.5], np.float32))
        qpos, time = env.physics.data.qpos.copy(), env.physics.data.time
        with pytest.raises(ValueError, match=r"NaN or infinity at index \[1\]"):
            env.step(np.array([0.1, bad], np.float32))
        np.testing.assert_array_equal(env.physics.data.qpos, qpos)
        assert env.physics.data.time == time
        _, reward, *_ = env.step(np.array([0.1, 0.1], np.float32))  # the episode goes on
        assert np.isfinite(reward)
    finally:
        env.close()


def test_an_out_of_range_action_acts_exactly_as_the_clipped_action() -> None:
    """What step() documents."""
    outcomes = []
    for action in ([1e6, -1e6], [1.0, -1.0]):
        env = _make("reach")
        try:
            env.reset(seed=SEED)
            obs, reward, *_ = env.step(np.array(action, np.float32))
            data = env.physics.data
            state = (data.qpos.copy(), data.qvel.copy(), data.mocap_pos.copy())
            outcomes.append((*state, reward, obs))
        finally:
            env.close()
    for got, clipped in zip(*outcomes, strict=True):
        np.testing.assert_array_equal(got, clipped)


def test_registry_derives_ids_scene_and_gallery_rows() -> None:
    assert ROBOT_TASKS == {"RobotReach": "reach", "RobotPegInBox": "peg_in_box"}
    for name, task in ROBOT_TASKS.items():
        cls = __import__("dmcgb.robot", fromlist=["task_class"]).task_class(task)
        assert issubclass(cls, tasks.Task) and cls.__name__ == name.removeprefix("Robot")
    with pytest.raises(UnknownTask, match="expected one of reach, peg_in_box"):
        RobotEnv("push")


def test_pinned_gymnasium_robotics_provides_the_fetch_assets() -> None:
    """The scene relies on names inside gymnasium-robotics' Fetch model: the installed version
    is the one pyproject pins, and every name the scene removes or freezes exists there."""
    import re
    from importlib.metadata import requires, version

    (pin,) = [r for r in requires("dmcgb-sgqn") if r.startswith("gymnasium-robotics")]
    assert re.fullmatch(r"gymnasium-robotics==[\d.]+", pin.replace(" ", "")), pin
    assert version("gymnasium-robotics") == pin.split("==")[1]
    spec = mujoco.MjSpec.from_file(str(scene.fetch_scene_path()))
    for joint in scene._FROZEN_JOINTS:
        assert spec.joint(joint) is not None, joint
    for body in (*scene._REMOVED_BODIES, scene.MOCAP_BODY, scene.ROBOT_ROOT_BODY):
        assert spec.body(body) is not None, body
    assert spec.site(scene.EE_SITE) is not None
    model = spec.compile()  # the meshes load
    assert model.nmesh > 10
