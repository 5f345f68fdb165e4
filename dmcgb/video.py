"""Background videos of the video modes: decoded once, resized once, cached per process.

A video is decoded with OpenCV (as the benchmark does) and every frame is resized to the
observation size with bilinear interpolation at half-pixel centres on float values in [0, 1],
then scaled by 255 and truncated, which is what the benchmark's
``F.interpolate(..., mode="bilinear", align_corners=False)`` followed by ``(x * 255).byte()``
computes. Resized videos are kept in a process-wide LRU cache, so an env that cycles through
the videos decodes each one once, and the next episode's video is decoded in a background
thread while the current episode runs.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

__all__ = ["load_video", "resize_frames", "VideoCache", "VIDEO_CACHE"]

_CACHE_BYTES = 2 * 1024**3  # all 100 video_hard videos at 84x84 take about 1.1 GB


def resize_frames(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize (N, h, w, 3) uint8 frames like the benchmark: bilinear, half-pixel, truncated."""
    out = np.empty((len(frames), height, width, 3), dtype=np.uint8)
    for i, frame in enumerate(frames):
        scaled = cv2.resize(
            frame.astype(np.float32) / np.float32(255.0),
            (width, height),
            interpolation=cv2.INTER_LINEAR,
        )
        out[i] = (scaled * np.float32(255.0)).astype(np.uint8)
    return out


def load_video(path: str | Path) -> np.ndarray:
    """Decode every frame of a video file into an (N, H, W, 3) uint8 RGB array."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise OSError(f"OpenCV could not open the video {path}")
    frames = []
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    if not frames:
        raise OSError(f"the video {path} has no frames (corrupt file? run python -m dmcgb.data verify)")
    return np.stack(frames)


class VideoCache:
    """Process-wide LRU cache of resized videos, keyed by (path, height, width).

    Args:
        max_bytes: evict least recently used videos beyond this many bytes.
    """

    def __init__(self, max_bytes: int = _CACHE_BYTES) -> None:
        self._max_bytes = max_bytes
        self._videos: OrderedDict[tuple[str, int, int], np.ndarray] = OrderedDict()
        self._pending: dict[tuple[str, int, int], Future[np.ndarray]] = {}
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    def get(self, path: str | Path, height: int, width: int) -> np.ndarray:
        """The video at ``path``, resized to (height, width): (N, height, width, 3) uint8."""
        key = (str(path), height, width)
        with self._lock:
            if key in self._videos:
                self._videos.move_to_end(key)
                return self._videos[key]
            future = self._pending.get(key)
        video = future.result() if future is not None else self._load(key)
        with self._lock:
            self._pending.pop(key, None)
            self._store(key, video)
        return video

    def prefetch(self, path: str | Path, height: int, width: int) -> None:
        """Start decoding a video in the background, so that a later ``get`` finds it ready."""
        key = (str(path), height, width)
        with self._lock:
            if key in self._videos or key in self._pending:
                return
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="dmcgb-video")
            self._pending[key] = self._executor.submit(self._load, key)

    def clear(self) -> None:
        with self._lock:
            self._videos.clear()

    def _after_fork(self) -> None:
        # A forked worker (async vector envs) inherits no running threads: start afresh.
        self._lock = threading.Lock()
        self._executor = None
        self._pending = {}

    @staticmethod
    def _load(key: tuple[str, int, int]) -> np.ndarray:
        path, height, width = key
        return resize_frames(load_video(path), height, width)

    def _store(self, key: tuple[str, int, int], video: np.ndarray) -> None:
        self._videos[key] = video
        self._videos.move_to_end(key)
        total = sum(v.nbytes for v in self._videos.values())
        while total > self._max_bytes and len(self._videos) > 1:
            _, evicted = self._videos.popitem(last=False)
            total -= evicted.nbytes


VIDEO_CACHE = VideoCache()
"""The cache every env of this process shares."""
os.register_at_fork(after_in_child=VIDEO_CACHE._after_fork)
