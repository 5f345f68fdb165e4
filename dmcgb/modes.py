"""The DMControl-GB test distributions, as data: the registry of modes.

Each mode says which scene colours it changes, where its backgrounds come from, which class
implements it and with which fixed arguments. The numbers are the benchmark's (Hansen & Wang,
2021, ``src/env/wrappers.py`` and ``src/env/dmc2gym`` at commit ff9c0aa): the green key colour
of the video modes, the HSV window of its chroma key, and the episode length.

Every id, the README's mode table and the tests are derived from ``MODES``. To add a mode,
add one ``Mode`` here; if it needs more than colours and a video background, give it its own
env class (a ``DMCGBEnv`` subclass in its own module, overriding the episode hooks) and name it
in ``entry_point``. A mode with an argument can also be registered at fixed values, as modes
whose ``kwargs`` hold the value, and a mode can be limited to some domains. For example::

    Mode("distractingcs", "distracting_cs", "...", data="davis", domains=DCS_DOMAINS,
         entry_point="dmcgb.distracting.env:DistractingEnv")  # intensity=... at make
    Mode("distractingcs0.1", "distracting_cs", "...", data="davis", domains=DCS_DOMAINS,
         entry_point="dmcgb.distracting.env:DistractingEnv", kwargs={"intensity": 0.1})
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from dmcgb.distracting import DOMAINS as DISTRACTING_DOMAINS
from dmcgb.distracting import INTENSITIES, mode_name
from dmcgb.geometric import BENCHMARK_NAMES as GEOMETRIC_NAMES
from dmcgb.geometric import DOMAINS as GEOMETRIC_DOMAINS

__all__ = [
    "Mode",
    "MODES",
    "KEY_RGB",
    "HSV_LOW",
    "HSV_HIGH",
    "EPISODE_LENGTH",
    "IMAGE_SIZE",
    "episode_steps",
]

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


_GEOMETRIC_DESCRIPTIONS = {
    "rotateeasy": "DMC-GB2: the camera rolled about its view axis, per episode one of 100 angles "
    "in [-90, 90) deg",
    "rotatehard": "`rotateeasy` over [-180, 180) deg",
    "shifteasy": "DMC-GB2: the camera panned and tilted towards the image's edges and corners, "
    "per episode one of 100 positions within the domain's bounds / 1.5",
    "shifthard": "`shifteasy` within the domain's bounds",
    "rotateshifteasy": "`shifteasy` and `rotateeasy` at once (position j: shift j and roll j)",
    "rotateshifthard": "`shifthard` and `rotatehard` at once",
}


def episode_steps(action_repeat: int, control_steps: int = EPISODE_LENGTH) -> int:
    """Agent steps per episode at an action repeat, as the benchmark counts them.

    DMControl-GB's dmc2gym truncates an episode after ``ceil(1000 / action_repeat)`` agent
    steps, each of ``action_repeat`` control steps, so that a repeat that does not divide 1000
    runs slightly longer than 1000 control steps (334 x 3 = 1002).
    """
    return -(-control_steps // action_repeat)


@dataclass(frozen=True)
class Mode:
    """One test distribution of DMControl-GB.

    Attributes:
        name: the mode as written in env ids (``videohard``).
        benchmark_name: the benchmark's own name (``video_hard``), also its data group.
        description: what the mode changes, one line for the README's mode table.
        keyed_textures: (texture, attribute) pairs painted with KEY_RGB at construction.
        colors: True if a colour setting is drawn at every reset.
        data: the ``dmcgb.data`` group the mode needs (fetched on first use), or None.
        entry_point: ``"module:Class"`` of the env that implements the mode.
        kwargs: fixed constructor arguments of this mode's ids (e.g. an intensity).
        domains: the dm_control domains that have this mode; None: every task.
    """

    name: str
    benchmark_name: str
    description: str
    keyed_textures: tuple[tuple[str, str], ...] = ()
    colors: bool = False
    data: str | None = None
    entry_point: str = "dmcgb.env:DMCGBEnv"
    kwargs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    domains: tuple[str, ...] | None = None

    def has_domain(self, domain: str) -> bool:
        """Whether tasks of the dm_control ``domain`` have this mode."""
        return self.domains is None or domain in self.domains

    @property
    def videos(self) -> int:
        """Number of background videos (0: no chroma key), as the data manifest lists them."""
        if not self.keyed_textures:
            return 0
        from dmcgb.data import VIDEO_COUNTS  # the data layer is imported only when needed

        return VIDEO_COUNTS[self.benchmark_name]


MODES: dict[str, Mode] = {
    m.name: m
    for m in (
        Mode("train", "train", "nothing: the stock dm_control scene"),
        Mode(
            "coloreasy",
            "color_easy",
            "at every reset, one of the benchmark's 100 `color_easy` settings",
            colors=True,
            data="color_easy",
        ),
        Mode(
            "colorhard",
            "color_hard",
            "at every reset, one of the benchmark's 100 `color_hard` settings",
            colors=True,
            data="color_hard",
        ),
        Mode(
            "videoeasy",
            "video_easy",
            "the skybox is keyed out over one of 10 `video_easy` videos",
            keyed_textures=_SKYBOX_KEYED,
            data="video_easy",
        ),
        Mode(
            "videohard",
            "video_hard",
            "skybox and floor are keyed out over one of 100 `video_hard` videos",
            keyed_textures=_SKYBOX_KEYED + _GRID_KEYED,
            data="video_hard",
        ),
        Mode(
            mode_name(),
            "distracting_cs",
            "the Distracting Control Suite as DMControl-GB runs it: camera pose, material "
            "colours and a DAVIS video on the skybox drift every second control step, by "
            f"`intensity=` (one of {', '.join(map(str, INTENSITIES))})",
            data="davis",
            entry_point="dmcgb.distracting.env:DistractingEnv",
            domains=DISTRACTING_DOMAINS,
        ),
        *(
            Mode(
                mode_name(intensity),
                "distracting_cs",
                f"`distractingcs` at intensity {intensity:g}",
                data="davis",
                entry_point="dmcgb.distracting.env:DistractingEnv",
                kwargs=MappingProxyType({"intensity": intensity}),
                domains=DISTRACTING_DOMAINS,
            )
            for intensity in INTENSITIES
        ),
        *(
            Mode(
                name,
                GEOMETRIC_NAMES[name],
                description,
                entry_point="dmcgb.geometric.env:GeometricEnv",
                domains=GEOMETRIC_DOMAINS,
            )
            for name, description in _GEOMETRIC_DESCRIPTIONS.items()
        ),
    )
}
"""Every mode, by the name used in env ids."""
