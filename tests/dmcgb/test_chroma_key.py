"""The vectorized chroma key against the benchmark's per-pixel float64 arithmetic."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from dmcgb import chroma_key, modes
from dmcgb.video import read_frames, resize_frame
from tests.dmcgb.benchmark_reference import composite as benchmark_composite
from tests.dmcgb.benchmark_reference import is_key as benchmark_is_key
from tests.dmcgb.benchmark_reference import resize_background as benchmark_resize


def test_pinned_numbers():
    assert modes.KEY_RGB == (0.2, 0.8, 0.2)
    assert modes.HSV_LOW == (100, 80, 70)
    assert modes.HSV_HIGH == (185, 255, 255)


def test_key_table_matches_colorsys_for_every_rgb_value():
    table = chroma_key.key_table().reshape(256, 256, 256)
    mismatches = []
    for r in range(256):
        row = table[r]
        for g in range(256):
            expected = [benchmark_is_key(r, g, b) for b in range(256)]
            if not np.array_equal(row[g], expected):
                mismatches.append((r, g))
    assert mismatches == []


def test_key_table_is_neither_empty_nor_full():
    table = chroma_key.key_table()
    assert table.shape == (2**24,)
    assert 0 < table.sum() < 2**24
    key = tuple(int(round(c * 255)) for c in modes.KEY_RGB)
    assert table[(key[0] << 16) | (key[1] << 8) | key[2]]


def test_composite_keeps_dtype_shape_and_unkeyed_pixels():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (84, 84, 3), dtype=np.uint8)
    frame[10:30, 5:60] = (51, 204, 51)  # the key green as rendered without lighting
    background = rng.integers(0, 256, (84, 84, 3), dtype=np.uint8)
    out = chroma_key.chroma_key(frame, background)
    assert out.dtype == np.uint8 and out.shape == frame.shape
    mask = chroma_key.key_mask(frame)
    assert mask[10:30, 5:60].all()
    np.testing.assert_array_equal(out[mask], background[mask])
    np.testing.assert_array_equal(out[~mask], frame[~mask])
    assert out is not frame


def _rendered_green_screen(mode: str, dmcgb_data) -> tuple[np.ndarray, Path, np.ndarray]:
    """WalkerWalk's first green-screen frame in a video mode, the video shown behind it, and
    the benchmark's key mask of the frame (its per-pixel test)."""
    import dmcgb  # noqa: F401  (registers the ids)

    env = gym.make(f"dmcgb/WalkerWalk-{mode}-v0").unwrapped
    env.reset(seed=3)
    green = env._camera(84).render().copy()
    video_path = dmcgb_data / f"video_{mode[5:]}" / f"video{env._video_index}.mp4"
    env.close()
    keyed = np.array([[benchmark_is_key(*map(int, p)) for p in row] for row in green])
    assert 0.05 < keyed.mean() < 0.98, "the scene should show both robot and green screen"
    return green, video_path, keyed


@pytest.mark.parametrize("mode", ["videoeasy", "videohard"])
def test_env_key_mask_matches_the_benchmark(mode: str, dmcgb_data):
    green, _, keyed = _rendered_green_screen(mode, dmcgb_data)
    np.testing.assert_array_equal(chroma_key.key_mask(green), keyed)


@pytest.mark.parametrize("mode", ["videoeasy", "videohard"])
def test_env_composite_matches_the_benchmark(mode: str, dmcgb_data):
    """Key a rendered green-screen frame both ways over the same video frame, compare."""
    pytest.importorskip("torch", reason="the benchmark resizes with torch (the agent extra)")
    green, video_path, keyed = _rendered_green_screen(mode, dmcgb_data)
    import cv2

    capture = cv2.VideoCapture(str(video_path))
    raw = cv2.cvtColor(capture.read()[1], cv2.COLOR_BGR2RGB)
    capture.release()
    ours = chroma_key.chroma_key(green, read_frames(video_path, 84, 1)[0])
    np.testing.assert_array_equal(read_frames(video_path, 84, 1)[0], resize_frame(raw, 84))
    theirs = benchmark_composite(green, benchmark_resize(raw, 84))
    np.testing.assert_array_equal(ours[~keyed], theirs[~keyed])
    difference = np.abs(ours.astype(int) - theirs.astype(int))
    assert difference.max() <= 1
