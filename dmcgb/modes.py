"""The DMControl-GB test distributions, as data.

Each mode says which scene colours it changes and where its backgrounds come from. The numbers
are the benchmark's (Hansen & Wang, 2021, ``src/env/wrappers.py`` at commit ff9c0aa):
the green key colour of the video modes and the HSV window of its chroma key.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Mode", "MODES", "KEY_RGB", "HSV_LOW", "HSV_HIGH", "EPISODE_LENGTH", "IMAGE_SIZE"]

EPISODE_LENGTH = 1000  # control steps per episode (a truncation, never a termination)
IMAGE_SIZE = 84  # pixels, height and width of an observation

KEY_RGB: tuple[float, float, float] = (0.2, 0.8, 0.2)
"""The green the video modes paint the skybox (and in videohard the floor) with."""

# Chroma-key window, inclusive: H in degrees (0..360), S and V scaled to 0..255.
HSV_LOW: tuple[float, float, float] = (100.0, 80.0, 70.0)
HSV_HIGH: tuple[float, float, float] = (185.0, 255.0, 255.0)

# Texture attributes set to the key colour: (texture name, attribute).
_SKYBOX_KEYED = (("skybox", "rgb1"), ("skybox", "rgb2"), ("skybox", "markrgb"))
_GRID_KEYED = (("grid", "rgb1"), ("grid", "rgb2"), ("grid", "markrgb"))


@dataclass(frozen=True)
class Mode:
    """One test distribution of DMControl-GB.

    Attributes:
        name: the mode as written in env ids (``videohard``).
        benchmark_name: the benchmark's own name (``video_hard``), also the data folder/file.
        keyed_textures: (texture, attribute) pairs painted with KEY_RGB at construction.
        colors: True if a colour setting is drawn at every reset.
        videos: number of background videos (0: no chroma key).
    """

    name: str
    benchmark_name: str
    keyed_textures: tuple[tuple[str, str], ...] = field(default=())
    colors: bool = False
    videos: int = 0


MODES: dict[str, Mode] = {
    m.name: m
    for m in (
        Mode("train", "train"),
        Mode("coloreasy", "color_easy", colors=True),
        Mode("colorhard", "color_hard", colors=True),
        Mode("videoeasy", "video_easy", keyed_textures=_SKYBOX_KEYED, videos=10),
        Mode("videohard", "video_hard", keyed_textures=_SKYBOX_KEYED + _GRID_KEYED, videos=100),
    )
}
"""Every mode, by the name used in env ids."""
