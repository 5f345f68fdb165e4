"""The distracting_cs numbers and the pure parts of its engine, against plain computations.

Numbers are DMControl-GB's (commit ff9c0aa, ``src/env/distracting_control/suite_utils.py``,
``camera.py``, ``color.py``, ``background.py``, loaded with ``dynamic=True`` by its dmc2gym).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from dmcgb.distracting import background as bg
from dmcgb.distracting import camera as cam
from dmcgb.distracting import color, mode_name
from dmcgb.distracting import settings as st
from dmcgb.errors import MissingData
from tests.conftest import SEED
from tests.dmcgb.davis_layout import frame_color, write_davis

# --- settings --------------------------------------------------------------------------------


def test_the_eight_intensities_and_their_videos():
    assert st.INTENSITIES == (0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)
    counts = [st.num_videos(i) for i in st.INTENSITIES]
    assert counts == [2, 2, 4, 6, 8, None, None, None]
    assert st.UPDATE_PERIOD == 2  # the original suite: every control step
    assert st.SKYBOX_SIZE == 800
    assert st.DOMAINS == ("reacher", "cartpole", "finger", "cheetah", "ball_in_cup", "walker")


@pytest.mark.parametrize("intensity", [0.025, 0.1, 0.3, 0.5])
@pytest.mark.parametrize("domain", ["walker", "reacher"])
def test_camera_settings_scale_with_intensity(domain, intensity):
    got = st.camera_settings(domain, intensity)
    quarter_turn = math.pi / 2
    assert got.horizontal_delta == pytest.approx(quarter_turn * intensity)
    assert got.vertical_delta == pytest.approx(quarter_turn * intensity)
    assert got.roll_delta == pytest.approx(quarter_turn * intensity)
    assert got.vel_std == pytest.approx(0.1 * intensity)
    assert got.max_vel == pytest.approx(0.4 * intensity)
    assert got.roll_std == pytest.approx(math.pi / 300 * intensity)
    assert got.max_roll_vel == pytest.approx(math.pi / 50 * intensity)
    assert got.max_zoom_in == pytest.approx(0.5 * intensity)
    assert got.max_zoom_out == pytest.approx(1.5 * intensity)
    assert got.upper_quadrant == (domain != "reacher")


@pytest.mark.parametrize("intensity", st.INTENSITIES)
def test_color_settings_scale_with_intensity(intensity):
    got = st.color_settings(intensity)
    assert got.max_delta == pytest.approx(intensity)
    assert got.step_std == pytest.approx(0.03 * intensity)


def test_ground_plane_alpha_per_domain():
    alphas = {d: st.background_settings(d, 0.1).ground_plane_alpha for d in st.DOMAINS}
    assert alphas == {
        "reacher": 0.0,
        "cartpole": 0.3,
        "finger": 0.3,
        "cheetah": 1.0,
        "ball_in_cup": 0.3,
        "walker": 1.0,
    }


@pytest.mark.parametrize("bad", [0.0, 0.35, 1.0, "hard", None])
def test_unimplemented_intensity_is_refused(bad):
    with pytest.raises(ValueError, match=r"expected a distracting_cs intensity in \[0.025"):
        st.distraction_settings("walker", bad)


def test_unsupported_domain_is_refused():
    with pytest.raises(ValueError, match="supports the domains"):
        st.distraction_settings("hopper", 0.1)


def test_mode_names():
    assert [mode_name(i) for i in st.INTENSITIES] == [
        "distractingcs0.025",
        "distractingcs0.05",
        "distractingcs0.1",
        "distractingcs0.15",
        "distractingcs0.2",
        "distractingcs0.3",
        "distractingcs0.4",
        "distractingcs0.5",
    ]
    assert mode_name() == "distractingcs"
    with pytest.raises(ValueError, match="intensity"):
        mode_name(0.35)


# --- DAVIS sequence lists ----------------------------------------------------------------------


def test_davis_split_lists():
    train, val = bg.TRAIN_VIDEOS, bg.VAL_VIDEOS
    assert (len(train), len(val)) == (60, 30)
    assert not set(train) & set(val)
    assert list(train) == sorted(train) and list(val) == sorted(val)
    assert train[:8] == (
        "bear",
        "bmx-bumps",
        "boat",
        "boxing-fisheye",
        "breakdance-flare",
        "bus",
        "car-turn",
        "cat-girl",
    )
    assert (train[-1], val[0], val[-1]) == ("walking", "bike-packing", "soapbox")


def test_each_intensity_uses_the_first_videos_of_the_list():
    assert bg.video_names("train", 0.05) == ("bear", "bmx-bumps")
    assert bg.video_names("train", 0.1) == bg.TRAIN_VIDEOS[:4]
    assert bg.video_names("train", 0.2) == bg.TRAIN_VIDEOS[:8]
    assert bg.video_names("train", 0.3) == bg.TRAIN_VIDEOS
    assert bg.video_names("val", 0.15) == bg.VAL_VIDEOS[:6]
    with pytest.raises(ValueError, match="DAVIS split"):
        bg.video_names("test", 0.1)


# --- camera ---------------------------------------------------------------------------------


def test_spherical_coordinates():
    r, h, v = cam.to_spherical(np.array([0.0, -4.0, 1.0]))
    assert r == pytest.approx(math.sqrt(17))
    assert h == pytest.approx(-math.pi / 2)
    assert v == pytest.approx(math.atan2(4.0, 1.0))
    rng = np.random.default_rng(SEED)
    for point in rng.normal(size=(20, 3)):
        np.testing.assert_allclose(cam.to_cartesian(*cam.to_spherical(point)), point, atol=1e-12)


def test_camera_range_upper_quadrant():
    cfg = st.camera_settings("cartpole", 0.5)  # cartpole's camera 0 sits at (0, -4, 1)
    got = cam.camera_range(np.array([0.0, -4.0, 1.0]), cfg)
    r, v, delta = math.sqrt(17), math.atan2(4.0, 1.0), math.pi / 4
    assert got.min_radius == pytest.approx(r * 0.75)
    assert got.max_radius == pytest.approx(r * 1.75)
    assert got.min_h == pytest.approx(-math.pi / 2 - delta)
    assert got.max_h == pytest.approx(-math.pi / 2 + delta)
    assert got.min_v == pytest.approx(v - delta)
    assert got.max_v == pytest.approx(math.pi / 2)  # v + delta would look from below the floor
    assert got.max_roll == pytest.approx(delta)
    assert got.vel_scale == pytest.approx(r / 4)


def test_camera_range_reacher_is_not_limited():
    cfg = st.camera_settings("reacher", 0.2)  # reacher's camera 0 looks down from (0, 0, .75)
    got = cam.camera_range(np.array([0.0, 0.0, 0.75]), cfg)
    delta = math.pi / 2 * 0.2
    assert (got.min_h, got.max_h) == pytest.approx((-delta, delta))
    assert (got.min_v, got.max_v) == pytest.approx((-delta, delta))
    assert (got.min_radius, got.max_radius) == pytest.approx((0.75 * 0.9, 0.75 * 1.3))


def _bounds(intensity: float = 0.3) -> tuple[cam.CameraRange, st.CameraSettings]:
    cfg = st.camera_settings("walker", intensity)
    return cam.camera_range(np.array([0.0, -2.0, 1.2]), cfg), cfg


def test_sample_camera_draw_order_and_ranges():
    bounds, cfg = _bounds()
    got = cam.sample_camera(np.random.default_rng(SEED), bounds, cfg)
    rng = np.random.default_rng(SEED)
    h = rng.uniform(bounds.min_h, bounds.max_h)
    v = rng.uniform(bounds.min_v, bounds.max_v)
    radius = rng.uniform(bounds.min_radius, bounds.max_radius)
    roll = rng.uniform(-bounds.max_roll, bounds.max_roll)
    direction = rng.standard_normal(3)
    speed = rng.uniform(0.0, cfg.max_vel)
    roll_velocity = rng.uniform(-cfg.max_roll_vel, cfg.max_roll_vel)
    assert (got.h, got.v, got.radius, got.roll) == (h, v, radius, roll)
    np.testing.assert_allclose(got.velocity, direction / math.sqrt(direction @ direction) * speed)
    assert got.roll_velocity == roll_velocity
    assert np.linalg.norm(got.velocity) <= cfg.max_vel  # not scaled by radius / 4


def _plain_walk(state, noise, roll_noise, bounds, cfg):
    """The suite's walk step, written out with scalars."""
    vx, vy, vz = (state.velocity[i] + noise[i] * cfg.vel_std * bounds.vel_scale for i in range(3))
    speed = math.sqrt(vx * vx + vy * vy + vz * vz)
    cap = cfg.max_vel * bounds.vel_scale
    if speed > cap:
        vx, vy, vz = vx * cap / speed, vy * cap / speed, vz * cap / speed
    roll_vel = state.roll_velocity + roll_noise * cfg.roll_std
    roll_vel = max(-cfg.max_roll_vel, min(cfg.max_roll_vel, roll_vel))
    r, h, v = state.radius, state.h, state.v
    x, y, z = r * math.sin(v) * math.cos(h), r * math.sin(v) * math.sin(h), r * math.cos(v)
    nx, ny, nz = x + vx, y + vy, z + vz
    nr = math.sqrt(nx * nx + ny * ny + nz * nz)
    nh = math.atan2(ny, nx)
    nv = math.atan2(math.sqrt(nx * nx + ny * ny), nz)
    nr = max(bounds.min_radius, min(bounds.max_radius, nr))
    nh = max(bounds.min_h, min(bounds.max_h, nh))
    nv = max(bounds.min_v, min(bounds.max_v, nv))
    fx, fy, fz = (
        nr * math.sin(nv) * math.cos(nh),
        nr * math.sin(nv) * math.sin(nh),
        nr * math.cos(nv),
    )
    roll = max(-bounds.max_roll, min(bounds.max_roll, state.roll + roll_vel))
    return (nr, nh, nv, roll, (fx - x, fy - y, fz - z), roll - state.roll)


@pytest.mark.parametrize(
    ("noise", "roll_noise", "place"),
    [
        ([0.3, -0.2, 0.1], 0.5, "centre"),  # a small step, nothing clips
        ([50.0, 40.0, -30.0], 200.0, "centre"),  # the speed and roll velocity are capped
        ([0.0, 0.0, 5.0], -3.0, "edge"),  # pushed against the position limits
    ],
)
def test_walk_camera_matches_the_suite_step(noise, roll_noise, place):
    bounds, cfg = _bounds()
    if place == "centre":
        h, v, r = (bounds.min_h + bounds.max_h) / 2, (bounds.min_v + bounds.max_v) / 2, 2.3
        roll = 0.0
    else:
        h, v, r, roll = bounds.max_h, bounds.min_v, bounds.max_radius, -bounds.max_roll
    state = cam.CameraState(r, h, v, roll, np.array([0.05, -0.02, 0.03]), 0.001)
    got = cam.walk_camera(state, np.array(noise), roll_noise, bounds, cfg)
    want = _plain_walk(state, noise, roll_noise, bounds, cfg)
    assert (got.radius, got.h, got.v, got.roll) == pytest.approx(want[:4], abs=1e-12)
    np.testing.assert_allclose(got.velocity, want[4], atol=1e-12)
    assert got.roll_velocity == pytest.approx(want[5], abs=1e-12)
    assert bounds.min_radius <= got.radius <= bounds.max_radius
    assert bounds.min_h <= got.h <= bounds.max_h and bounds.min_v <= got.v <= bounds.max_v


def _view_axis(orientation: np.ndarray) -> np.ndarray:
    return -orientation[:, 2]  # a camera looks along its -z axis


@pytest.mark.parametrize(
    "eye", [[0.0, -4.0, 1.0], [1.5, -2.0, 3.0], [-2.0, -1.0, 0.4], [0.3, 2.0, 1.0]]
)
def test_look_at_upright_looks_at_the_target_without_roll(eye):
    eye, target = np.array(eye), np.array([0.1, 0.2, 0.6])
    got = cam.look_at_upright(target, eye)
    np.testing.assert_allclose(got @ got.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(got) == pytest.approx(1.0)
    direction = (target - eye) / np.linalg.norm(target - eye)
    np.testing.assert_allclose(_view_axis(got), direction, atol=1e-12)
    assert got[2, 0] == pytest.approx(0.0, abs=1e-12)  # image x axis horizontal
    assert got[2, 1] > 0  # image up points up


def test_look_at_shortest():
    target = np.array([0.0, 0.0, 0.0])
    np.testing.assert_allclose(
        cam.look_at_shortest(target, np.array([0.0, 0.0, 0.75])), np.eye(3), atol=1e-12
    )
    eye = np.array([0.2, -0.1, 0.7])
    got = cam.look_at_shortest(target, eye)
    direction = (target - eye) / np.linalg.norm(eye)
    # The suite adds 1e-4 to the axis norm before normalising: a rotation to within ~1e-3.
    np.testing.assert_allclose(_view_axis(got), direction, atol=2e-3)
    np.testing.assert_allclose(got @ got.T, np.eye(3), atol=2e-3)


def test_roll_matrix_and_camera_pose():
    angle = 0.3
    np.testing.assert_allclose(
        cam.roll_matrix(angle) @ [1.0, 0.0, 0.0], [math.cos(angle), math.sin(angle), 0.0]
    )
    state = cam.CameraState(3.0, -1.2, 1.1, angle, np.zeros(3), 0.0)
    origin, target = np.array([0.5, 0.0, 0.8]), np.array([0.4, 0.1, 0.9])
    position, orientation = cam.camera_pose(state, target, origin, upper_quadrant=True)
    np.testing.assert_allclose(np.linalg.norm(position - origin), 3.0)
    direction = (target - position) / np.linalg.norm(target - position)
    np.testing.assert_allclose(_view_axis(orientation), direction, atol=1e-12)  # roll keeps it
    unrolled = cam.look_at_upright(target, position)
    cos_roll = orientation[:, 0] @ unrolled[:, 0]
    assert math.acos(min(1.0, cos_roll)) == pytest.approx(angle)


def test_look_at_point():
    position, centre = np.array([0.0, -4.0, 1.0]), np.array([0.0, 0.0, 1.0])
    orientation = cam.look_at_upright(centre, position)
    np.testing.assert_allclose(cam.look_at_point(position, orientation, centre), centre, atol=1e-12)


# --- colour ---------------------------------------------------------------------------------


def test_color_bounds_sample_and_walk():
    original = np.array([[0.7, 0.5, 0.3], [1.0, 1.0, 1.0], [0.0, 0.2, 0.95]])
    low, high = color.color_bounds(original, 0.1)
    np.testing.assert_allclose(low, [[0.6, 0.4, 0.2], [0.9, 0.9, 0.9], [0.0, 0.1, 0.85]])
    np.testing.assert_allclose(high, [[0.8, 0.6, 0.4], [1.0, 1.0, 1.0], [0.1, 0.3, 1.0]])
    got = color.sample_colors(np.random.default_rng(SEED), low, high)
    uniform = np.random.default_rng(SEED).random((3, 3))
    np.testing.assert_allclose(got, low + uniform * (high - low))
    noise = np.array([[1.0, -1.0, 0.0], [2.0, -50.0, 0.5], [-9.0, 0.0, 9.0]])
    walked = color.walk_colors(got, noise, 0.003, low, high)
    for i in range(3):
        for j in range(3):
            want = min(high[i, j], max(low[i, j], got[i, j] + noise[i, j] * 0.003))
            assert walked[i, j] == pytest.approx(want)


# --- background -----------------------------------------------------------------------------


def _walk_frames(index: int, direction: int, count: int, steps: int) -> list[int]:
    shown = []
    for _ in range(steps):
        index, direction = bg.next_frame(index, direction, count)
        shown.append(index)
    return shown


def test_frame_index_bounces_like_the_suite():
    # The last frame shows twice when the walk turns there, the first frame once.
    assert _walk_frames(2, 1, 3, 7) == [2, 1, 0, 1, 2, 2, 1]
    assert _walk_frames(0, -1, 3, 7) == [0, 1, 2, 2, 1, 0, 1]
    assert _walk_frames(1, -1, 4, 8) == [0, 1, 2, 3, 3, 2, 1, 0]
    assert _walk_frames(0, 1, 1, 4) == [0, 0, 0, 0]


@pytest.mark.parametrize("shape", [(480, 854), (17, 5), (800, 800)])
def test_skybox_texture_is_a_nearest_neighbour_resize(shape):
    frame = np.random.default_rng(SEED).integers(0, 256, (*shape, 3), dtype=np.uint8)
    got = bg.skybox_texture(frame)
    height, width = shape
    rows = np.floor((np.arange(800) + 0.5) * height / 800).astype(int)
    cols = np.floor((np.arange(800) + 0.5) * width / 800).astype(int)
    want = frame[rows][:, cols]
    assert got.dtype == np.uint8 and got.shape == (800 * 800 * 3,)
    np.testing.assert_array_equal(got.reshape(800, 800, 3), want)


def test_frames_are_read_in_name_order(tmp_path: Path):
    davis = write_davis(tmp_path, train=["bear", "boat"], frames=12)
    paths = bg.frame_paths(davis, "boat")
    assert [p.name for p in paths] == [f"{i:05d}.jpg" for i in range(12)]
    frame = bg.load_frame(paths[3])
    assert frame.dtype == np.uint8 and frame.shape == (24, 40, 3)
    np.testing.assert_allclose(frame[12, 20], frame_color(1, 3), atol=3)


def test_missing_sequence_names_the_fetch_command(tmp_path: Path):
    davis = write_davis(tmp_path, train=["bear"])
    with pytest.raises(MissingData, match="python -m dmcgb.data fetch davis"):
        bg.frame_paths(davis, "boat")
