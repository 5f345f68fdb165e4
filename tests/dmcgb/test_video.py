"""Background videos: the benchmark's resize arithmetic, frame-by-frame decoding, sharing."""

from __future__ import annotations

import gc
from pathlib import Path

import cv2
import numpy as np
import pytest

from dmcgb.errors import CorruptData
from dmcgb.video import FrameStream, VideoCache, read_frames, resize_frame

f32 = np.float32


def benchmark_resize(frame: np.ndarray, size: int) -> np.ndarray:
    """The benchmark's background resize written out pixel by pixel, in float32.

    DMControl-GB (src/env/wrappers.py, _interpolate_bg): ``x = frame.float() / 255``, then
    ``F.interpolate(x, size, mode="bilinear", align_corners=False)``, then ``(x * 255).byte()``.
    torch's bilinear kernel (aten/src/ATen/native/UpSample.h) computes, per axis,
    ``scale = in / out``, ``src = max(scale * (dst + 0.5) - 0.5, 0)``, ``i0 = int(src)``,
    ``i1 = i0 + (i0 < in - 1)``, ``l1 = src - i0``, ``l0 = 1 - l1``, and per output value
    ``h0 * (w0 * x[i0, j0] + w1 * x[i0, j1]) + h1 * (w0 * x[i1, j0] + w1 * x[i1, j1])``.
    """
    in_h, in_w = frame.shape[:2]
    out = np.empty((size, size, 3), np.uint8)

    def taps(dst: int, in_size: int) -> tuple[int, int, f32, f32]:
        src = f32(in_size) / f32(size) * (f32(dst) + f32(0.5)) - f32(0.5)
        src = max(src, f32(0.0))
        i0 = min(int(src), in_size - 1)
        i1 = i0 + (1 if i0 < in_size - 1 else 0)
        l1 = f32(src - f32(i0))
        return i0, i1, f32(f32(1.0) - l1), l1

    for y in range(size):
        r0, r1, h0, h1 = taps(y, in_h)
        for x in range(size):
            c0, c1, w0, w1 = taps(x, in_w)
            for c in range(3):
                v = [f32(frame[r, k, c]) / f32(255.0) for r, k in ((r0, c0), (r0, c1), (r1, c0), (r1, c1))]
                value = h0 * (w0 * v[0] + w1 * v[1]) + h1 * (w0 * v[2] + w1 * v[3])
                out[y, x, c] = int(f32(value * f32(255.0)))  # .byte(): truncation
    return out


def _first_frame(path: Path) -> np.ndarray:
    capture = cv2.VideoCapture(str(path))
    ok, bgr = capture.read()
    capture.release()
    assert ok
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize("size", [84, 31])
def test_resize_equals_the_benchmark_formula_on_real_frames(size, shared_data):
    for name in ("video_hard/video1.mp4", "video_easy/video2.mp4"):  # 352x352 and 218x218
        frame = _first_frame(shared_data / name)
        np.testing.assert_array_equal(resize_frame(frame, size), benchmark_resize(frame, size))


def test_resize_equals_the_benchmark_formula_up_and_down_on_odd_shapes():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (23, 37, 3), dtype=np.uint8)
    for size in (5, 23, 40, 64):  # down, equal height, up
        np.testing.assert_array_equal(resize_frame(frame, size), benchmark_resize(frame, size))


def test_resize_is_within_one_level_of_the_installed_torch(shared_data):
    """torch's own kernels differ in the last float bit between versions and thread counts
    (vectorised, fused multiply-add); against the installed torch we stay within one level."""
    torch = pytest.importorskip("torch")
    frame = _first_frame(shared_data / "video_hard/video1.mp4")
    x = torch.from_numpy(np.moveaxis(frame, -1, 0).copy()).float().unsqueeze(0) / 255.0
    x = torch.nn.functional.interpolate(x, size=(84, 84), mode="bilinear", align_corners=False)
    theirs = np.moveaxis((x * 255.0).byte().squeeze(0).numpy(), 0, -1)
    difference = np.abs(resize_frame(frame, 84).astype(int) - theirs.astype(int))
    assert difference.max() <= 1


def test_read_frames_keeps_only_what_is_asked_and_matches_frame_by_frame(shared_data):
    path = shared_data / "video_easy/video2.mp4"
    frames = read_frames(path, 84, 5)
    assert frames.shape == (5, 84, 84, 3) and frames.dtype == np.uint8
    capture = cv2.VideoCapture(str(path))
    decoded = [cv2.cvtColor(capture.read()[1], cv2.COLOR_BGR2RGB) for _ in range(5)]
    capture.release()
    for frame, rgb in zip(frames, decoded, strict=True):
        np.testing.assert_array_equal(frame, resize_frame(rgb, 84))
    np.testing.assert_array_equal(frames[4], benchmark_resize(decoded[4], 84))


def test_a_short_decode_is_an_error_naming_the_file(shared_data):
    path = shared_data / "video_easy/video2.mp4"  # 643 frames
    with pytest.raises(CorruptData) as info:
        read_frames(path, 8, 700, fix="run `python -m dmcgb.data fetch video_easy`")
    message = str(info.value)
    assert str(path) in message and "643 of the 700" in message
    assert "python -m dmcgb.data fetch video_easy" in message
    with pytest.raises(CorruptData, match="could not open"):
        read_frames(shared_data / "SHA256SUMS", 8, 1)


def test_frame_stream_reads_forward_and_back(shared_data):
    path = shared_data / "video_hard/video3.mp4"
    expected = read_frames(path, 40, 6)
    stream = FrameStream(path, 40)
    for i in (0, 1, 2, 5, 5, 1, 4):  # forward, repeat, back
        np.testing.assert_array_equal(stream.frame(i), expected[i])
    stream.close()


def test_cache_shares_one_copy_and_frees_it_when_nobody_holds_it():
    cache, loads = VideoCache(), []

    def load():
        loads.append(1)
        return np.zeros((10, 8, 8, 3), np.uint8)

    first = cache.request(("a",), load, background=False)
    second = cache.request(("a",), load, background=True)
    assert first is second and first.result() is second.result() and len(loads) == 1
    assert cache.held_bytes() == 10 * 8 * 8 * 3
    del first, second
    gc.collect()
    assert cache.held_bytes() == 0
    prefetched = cache.request(("b",), load, background=True)
    assert prefetched.result().shape == (10, 8, 8, 3) and len(loads) == 2


def test_a_failed_load_is_not_cached():
    cache, calls = VideoCache(), []

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise CorruptData("damaged")
        return np.ones((1, 2, 2, 3), np.uint8)

    failed = cache.request(("v",), flaky, background=False)
    with pytest.raises(CorruptData):
        failed.result()
    assert cache.request(("v",), flaky, background=False).result().sum() == 12
