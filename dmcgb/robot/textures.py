"""Procedural table-surface textures, made with numpy when a scene is built.

Each texture is a (size, size, 3) uint8 RGB image that tiles seamlessly. The colours are the
untinted ones; a variant's tint is applied by the material (``scene.py``). Every texture comes
from its own fixed seed, so a scene looks the same in every process.
"""

from __future__ import annotations

import numpy as np

from dmcgb.robot.variants import TABLE_SURFACES

__all__ = ["table_texture", "fractal_noise"]

_SIZE = 256  # texels per side


def _periodic_upsample(grid: np.ndarray, size: int) -> np.ndarray:
    """Bilinearly interpolate a (n, n) grid to (size, size), wrapping at the edges."""
    n = grid.shape[0]
    coords = np.arange(size) * n / size
    i0 = np.floor(coords).astype(int)
    frac = coords - i0
    frac = frac * frac * (3.0 - 2.0 * frac)  # smoothstep: no visible grid lines
    i1 = (i0 + 1) % n
    rows = grid[i0] * (1.0 - frac)[:, None] + grid[i1] * frac[:, None]
    return rows[:, i0] * (1.0 - frac)[None, :] + rows[:, i1] * frac[None, :]


def fractal_noise(
    rng: np.random.Generator, size: int, base_cells: int, octaves: int = 4
) -> np.ndarray:
    """Tileable value noise in [0, 1] with `octaves` octaves, coarsest `base_cells` per side."""
    total = np.zeros((size, size))
    weight_sum = 0.0
    for octave in range(octaves):
        cells = min(base_cells * 2**octave, size)
        weight = 0.5**octave
        total += weight * _periodic_upsample(rng.random((cells, cells)), size)
        weight_sum += weight
    total /= weight_sum
    return (total - total.min()) / max(total.max() - total.min(), 1e-9)


def _colorize(shade: np.ndarray, dark: tuple[float, ...], light: tuple[float, ...]) -> np.ndarray:
    """Map a [0, 1] shade image to RGB between the colours `dark` and `light`."""
    dark_rgb, light_rgb = np.asarray(dark), np.asarray(light)
    rgb = dark_rgb + shade[..., None] * (light_rgb - dark_rgb)
    return np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)


def _smooth(rng: np.random.Generator, size: int) -> np.ndarray:
    # A light laminate: almost uniform, with faint blotches so it is not perfectly flat.
    shade = 0.8 + 0.2 * fractal_noise(rng, size, 4, octaves=3)
    return _colorize(shade, (0.0, 0.0, 0.0), (0.92, 0.92, 0.9))


def _carpet(rng: np.random.Generator, size: int) -> np.ndarray:
    # Dark pile: dense per-texel fibres over a slow mottle.
    fibres = rng.random((size, size))
    mottle = fractal_noise(rng, size, 8, octaves=2)
    shade = 0.55 * mottle + 0.45 * fibres
    return _colorize(shade, (0.08, 0.07, 0.07), (0.38, 0.34, 0.32))


def _concrete(rng: np.random.Generator, size: int) -> np.ndarray:
    # Grey aggregate: multi-scale noise plus small dark pores.
    shade = 0.3 + 0.7 * fractal_noise(rng, size, 8, octaves=5)
    pores = rng.random((size, size)) < 0.015
    shade[pores] *= 0.4
    return _colorize(shade, (0.25, 0.25, 0.25), (0.75, 0.74, 0.72))


def _wood(rng: np.random.Generator, size: int) -> np.ndarray:
    # Light planks: growth rings along x, bent by low-frequency noise, with fine grain.
    y = np.mgrid[0:size, 0:size][0] / size
    warp = fractal_noise(rng, size, 3, octaves=3)
    rings = 0.5 + 0.5 * np.sin(2.0 * np.pi * (12.0 * y + 2.5 * warp))
    grain = _periodic_upsample(rng.random((size, 16)).T, size).T  # streaks along x
    shade = 0.65 * rings**2 + 0.35 * grain
    return _colorize(shade, (0.62, 0.45, 0.28), (0.95, 0.82, 0.62))


def _sponge(rng: np.random.Generator, size: int) -> np.ndarray:
    # Yellow foam: bright cells with many dark round pores of random sizes.
    shade = 0.8 + 0.2 * fractal_noise(rng, size, 16, octaves=2)
    for _ in range(260):
        cy, cx = rng.random(2) * size
        radius = 1.5 + 4.0 * rng.random()
        # Work in a window around the pore; indices wrap so pores tile across the edges.
        offsets = np.arange(-int(radius) - 1, int(radius) + 2)
        rows = (int(cy) + offsets) % size
        cols = (int(cx) + offsets) % size
        dist = np.hypot((int(cy) + offsets - cy)[:, None], (int(cx) + offsets - cx)[None, :])
        pore = np.clip(1.0 - dist / radius, 0.0, 1.0)
        shade[np.ix_(rows, cols)] *= 1.0 - 0.85 * np.sqrt(pore)
    return _colorize(shade, (0.1, 0.08, 0.0), (0.98, 0.88, 0.35))


_MAKERS = {
    "smooth": _smooth,
    "carpet": _carpet,
    "concrete": _concrete,
    "wood": _wood,
    "sponge": _sponge,
}
assert set(_MAKERS) == set(TABLE_SURFACES)


def table_texture(surface: str, size: int = _SIZE) -> np.ndarray:
    """Return the untinted table texture `surface` as a (size, size, 3) uint8 RGB image.

    Raises:
        ValueError: `surface` is not one of ``variants.TABLE_SURFACES``.
    """
    if surface not in _MAKERS:
        raise ValueError(
            f"unknown table surface {surface!r}; expected one of {', '.join(TABLE_SURFACES)}"
        )
    seed = TABLE_SURFACES.index(surface) + 1
    return _MAKERS[surface](np.random.default_rng(seed), size)
