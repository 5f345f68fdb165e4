"""Background videos of the video modes: decoded frame by frame, resized exactly, shared.

A video is decoded with OpenCV (as the benchmark does), one frame at a time; each frame is
resized at once to the observation size and the full-size frame is dropped, so decoding never
holds more than one full-size frame. Only the frames an episode can show are kept (an episode
of ``s`` agent steps shows frames ``0..s``; fewer than the video holds at action repeat > 1).

Resizing repeats the benchmark's arithmetic exactly: DMControl-GB scales a uint8 frame to
[0, 1] in float32, resizes it with ``torch.nn.functional.interpolate(mode="bilinear",
align_corners=False)`` and truncates ``x * 255`` back to uint8. :class:`Resizer` computes the
same float32 operations in the same order with numpy (torch's source index
``max(scale * (dst + 0.5) - 0.5, 0)``, ``scale = in / out``, weights ``1 - l`` and ``l``, and
``h0 * (w0 * x00 + w1 * x01) + h1 * (w0 * x10 + w1 * x11)``).

Decoded videos are shared by every env of a process through :data:`VIDEO_CACHE`, which holds
them only while some env does: memory stays at what the envs need, however many videos they
cycle through.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from dmcgb.errors import CorruptData

__all__ = [
    "Resizer",
    "resize_frame",
    "frame_count",
    "read_frames",
    "FrameStream",
    "VideoCache",
    "VIDEO_CACHE",
]

_F32 = np.float32
_TO_UNIT = np.arange(256, dtype=_F32) / _F32(255.0)  # uint8 level -> float32 in [0, 1]


def _source_taps(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """torch's bilinear taps along one axis: (index0, index1, weight0, weight1), float32."""
    scale = _F32(in_size) / _F32(out_size)
    source = scale * (np.arange(out_size, dtype=_F32) + _F32(0.5)) - _F32(0.5)
    source = np.maximum(source, _F32(0.0))
    index0 = np.minimum(source.astype(np.int64), in_size - 1)
    weight1 = source - index0.astype(_F32)
    index1 = index0 + (index0 < in_size - 1)
    return index0, index1, _F32(1.0) - weight1, weight1


class Resizer:
    """Resize (h, w, 3) uint8 frames to (size, size, 3) as the benchmark does (see module docs).

    Args:
        height, width: the input frames' size.
        size: the output's height and width.
    """

    def __init__(self, height: int, width: int, size: int) -> None:
        self.shape = (height, width)
        h0, h1, a0, a1 = _source_taps(height, size)
        w0, w1, b0, b1 = _source_taps(width, size)
        # Flat indices (into the frame's bytes) of the four taps of every output value.
        pixels = [rows[:, None] * width + cols[None, :] for rows in (h0, h1) for cols in (w0, w1)]
        self._taps = (np.stack(pixels)[..., None] * 3 + np.arange(3)).reshape(-1)
        full = (size, size, 3)
        self._w0 = np.broadcast_to(b0[None, :, None], full).copy()
        self._w1 = np.broadcast_to(b1[None, :, None], full).copy()
        self._h0 = np.broadcast_to(a0[:, None, None], full).copy()
        self._h1 = np.broadcast_to(a1[:, None, None], full).copy()
        self._size = size

    def __call__(self, frame: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The resized frame; written into ``out`` ((size, size, 3) uint8) if given."""
        if frame.shape != (*self.shape, 3):
            raise ValueError(f"expected a frame of shape {(*self.shape, 3)}, actual: {frame.shape}")
        taps = np.take(_TO_UNIT, np.take(frame.reshape(-1), self._taps))
        x00, x01, x10, x11 = taps.reshape(4, self._size, self._size, 3)
        top = np.multiply(x00, self._w0)
        top += np.multiply(x01, self._w1, out=x01)
        bottom = np.multiply(x10, self._w0, out=x10)
        bottom += np.multiply(x11, self._w1, out=x11)
        top *= self._h0
        bottom *= self._h1
        top += bottom
        top *= _F32(255.0)
        if out is None:
            return top.astype(np.uint8)
        np.copyto(out, top, casting="unsafe")  # float -> uint8 truncates, as torch's .byte()
        return out


@lru_cache(maxsize=64)
def _resizer(height: int, width: int, size: int) -> Resizer:
    return Resizer(height, width, size)


def resize_frame(frame: np.ndarray, size: int, out: np.ndarray | None = None) -> np.ndarray:
    """Resize one (h, w, 3) uint8 RGB frame to (size, size, 3) as the benchmark does (into
    ``out`` when given)."""
    return _resizer(frame.shape[0], frame.shape[1], size)(frame, out=out)


def _open(path: str | Path) -> cv2.VideoCapture:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise CorruptData(f"OpenCV could not open the video {path}")
    return capture


def frame_count(path: str | Path) -> int:
    """The number of frames the video's container declares (what the benchmark reads)."""
    capture = _open(path)
    try:
        return int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()


def read_frames(path: str | Path, size: int, count: int, fix: str = "") -> np.ndarray:
    """Decode the first ``count`` frames of a video, each resized to ``size`` at once.

    Args:
        path: the video file.
        size: output height and width.
        count: frames to decode; the video must hold at least this many.
        fix: what to do when the file is damaged, for the error message.

    Returns:
        (count, size, size, 3) uint8 RGB frames.

    Raises:
        CorruptData: the file cannot be opened, or decodes fewer than ``count`` frames.
    """
    frames = np.empty((count, size, size, 3), np.uint8)
    capture = _open(path)
    decoded = 0
    try:
        while decoded < count:
            ok, bgr = capture.read()
            if not ok:
                break
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            resize_frame(rgb, size, out=frames[decoded])
            decoded += 1
    finally:
        capture.release()
    if decoded < count:
        raise CorruptData(
            f"the video {path} decoded only {decoded} of the {count} frames it must hold: the "
            f"file is damaged (or this OpenCV cannot decode it){'; ' + fix if fix else ''}"
        )
    return frames


class FrameStream:
    """Frames of one video at one size, decoded on request, for ``render()``.

    Reading forward (frame i, then i + 1) decodes one frame per call; asking for an earlier
    frame reopens the video. Holds one frame, not the video.

    Args:
        path: the video file.
        size: output height and width.
        fix: what to do when the file is damaged, for the error message.
    """

    def __init__(self, path: str | Path, size: int, fix: str = "") -> None:
        self.path, self.size, self._fix = path, size, fix
        self._capture: cv2.VideoCapture | None = None
        self._index = -1  # index of self._frame
        self._frame: np.ndarray | None = None

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` (0-based), resized: (size, size, 3) uint8."""
        if index < self._index or self._capture is None:
            self.close()
            self._capture = _open(self.path)
        while self._index < index:
            ok, bgr = self._capture.read()
            if not ok:
                raise CorruptData(
                    f"the video {self.path} ended at frame {self._index + 1}, before frame "
                    f"{index}: the file is damaged{'; ' + self._fix if self._fix else ''}"
                )
            self._index += 1
            if self._index == index:
                self._frame = resize_frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), self.size)
        assert self._frame is not None
        return self._frame

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
        self._capture, self._index, self._frame = None, -1, None


class VideoCache:
    """Decoded videos shared by the envs of a process, held only while an env holds them.

    ``request`` returns a ``Future`` of the frames; an env keeps the futures of the videos it
    will show (current, next, ...). Requests for the same key share one future, so one copy is
    decoded and kept however many envs show it, and it is freed when the last env lets go.
    """

    def __init__(self) -> None:
        self._futures: weakref.WeakValueDictionary[tuple, Future] = weakref.WeakValueDictionary()
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    def request(self, key: tuple, load: Callable[[], np.ndarray], background: bool) -> Future:
        """The shared future of ``key``'s frames; ``load()`` computes them if none exists yet.

        Args:
            key: identifies the frames (e.g. path, size, count).
            load: computes the frames.
            background: decode in a worker thread (a prefetch) rather than right now.
        """
        with self._lock:
            future = self._futures.get(key)
            if future is not None:
                return future
            if background:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(1, thread_name_prefix="dmcgb-video")
                future = self._executor.submit(load)
                self._futures[key] = future
                future.add_done_callback(lambda f: self._forget_failed(key, f))
                return future
            future = Future()
            self._futures[key] = future
        try:
            future.set_result(load())
        except BaseException as exc:
            future.set_exception(exc)
            self._forget_failed(key, future)
        return future

    def _forget_failed(self, key: tuple, future: Future) -> None:
        # A failed load is not cached: the next request tries again (e.g. after a fetch).
        if future.exception() is not None:
            with self._lock:
                if self._futures.get(key) is future:
                    del self._futures[key]

    def held_bytes(self) -> int:
        """Bytes of decoded frames alive in this process (shared ones counted once)."""
        with self._lock:
            futures = list(self._futures.values())
        return sum(f.result().nbytes for f in futures if f.done() and f.exception() is None)

    def _after_fork(self) -> None:
        # A forked child inherits no running threads: start afresh.
        self._lock = threading.Lock()
        self._executor = None
        self._futures = weakref.WeakValueDictionary()


VIDEO_CACHE = VideoCache()
"""The cache every env of this process shares."""
os.register_at_fork(after_in_child=VIDEO_CACHE._after_fork)
