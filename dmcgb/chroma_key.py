"""The benchmark's green-screen key, vectorized.

DMControl-GB decides per pixel with ``colorsys.rgb_to_hsv`` in float64 whether a pixel is
"green screen" (H in 100..185 degrees, S in 80..255, V in 70..255, inclusive) and replaces it
by the background. Here that decision is evaluated once for all 2**24 RGB values, with the
same float64 operations in the same order, into a lookup table; keying a frame is then one
gather per pixel. ``tests/dmcgb/test_chroma_key.py`` checks the table against ``colorsys``
for every RGB value.
"""

from __future__ import annotations

import threading

import numpy as np

from dmcgb.modes import HSV_HIGH, HSV_LOW

__all__ = ["key_table", "key_mask", "composite", "chroma_key"]

_table: np.ndarray | None = None
_table_lock = threading.Lock()


def _hsv_in_window(r: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    """colorsys.rgb_to_hsv on float64 arrays in [0, 1], followed by the benchmark's test."""
    maxc = np.maximum(np.maximum(r, g), b)
    minc = np.minimum(np.minimum(r, g), b)
    rangec = maxc - minc
    grey = rangec == 0.0
    safe_range = np.where(grey, 1.0, rangec)
    safe_max = np.where(maxc == 0.0, 1.0, maxc)
    s = np.where(grey, 0.0, rangec / safe_max)
    rc = (maxc - r) / safe_range
    gc = (maxc - g) / safe_range
    bc = (maxc - b) / safe_range
    # colorsys tests r == maxc first, then g == maxc, else b.
    h = np.where(r == maxc, bc - gc, np.where(g == maxc, 2.0 + rc - bc, 4.0 + gc - rc))
    h = np.where(grey, 0.0, np.mod(h / 6.0, 1.0))
    h, s, v = h * 360, s * 255, maxc * 255
    return (
        (HSV_LOW[0] <= h)
        & (h <= HSV_HIGH[0])
        & (HSV_LOW[1] <= s)
        & (s <= HSV_HIGH[1])
        & (HSV_LOW[2] <= v)
        & (v <= HSV_HIGH[2])
    )


def _build_table() -> np.ndarray:
    table = np.empty((256, 256, 256), dtype=bool)
    levels = np.arange(256, dtype=np.float64) / 255.0
    g, b = np.meshgrid(levels, levels, indexing="ij")
    for red in range(256):  # one 256x256 slab at a time keeps the temporaries small
        table[red] = _hsv_in_window(np.full_like(g, levels[red]), g, b)
    return table.reshape(-1)


def key_table() -> np.ndarray:
    """The key decision for every RGB value: (2**24,) bool, indexed by (r << 16) | (g << 8) | b.

    Built on first use (about a second) and shared by every env of the process.
    """
    global _table
    if _table is None:
        with _table_lock:
            if _table is None:
                _table = _build_table()
    return _table


def key_mask(frame: np.ndarray) -> np.ndarray:
    """(H, W) bool: the pixels of an (H, W, 3) uint8 RGB frame that the benchmark keys out."""
    rgb = frame.astype(np.uint32)
    index = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    return key_table()[index]


def composite(frame: np.ndarray, mask: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Replace the masked pixels of ``frame`` by those of ``background``.

    Args:
        frame: (H, W, 3) uint8 rendered image.
        mask: (H, W) bool, True where the background shows through.
        background: (H, W, 3) uint8, already at the frame's size.

    Returns:
        A new (H, W, 3) uint8 image.
    """
    return np.where(mask[..., None], background, frame)


def chroma_key(frame: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Key the green screen of ``frame`` out and show ``background`` (same shape) through it."""
    return composite(frame, key_mask(frame), background)
