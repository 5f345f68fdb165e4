"""Background distraction: a DAVIS 2017 sequence playing on the skybox, back and forth.

At reset one sequence of the split's list is drawn uniformly, then a start frame (uniform)
and a direction (+1 or -1). At each change the frame index moves one step in its direction;
moving to or below the first frame clamps it there and turns forward, moving past the last
frame clamps it at the last and turns backward (so the last frame shows twice in a row, the
first once). Each frame is resized to the 800x800 skybox texture with nearest-neighbour
sampling (what ``PIL.Image.resize`` did by default in the Pillow 6.2.0 DMControl-GB pins) and
shown on all six faces of the sky cube; the floor gets the domain's alpha so the video shows
through it.

Semantics of DMControl-GB's ``distracting_control/background.py``; the sequence lists are its
``DAVIS17_TRAINING_VIDEOS`` and ``DAVIS17_VALIDATION_VIDEOS`` (the DAVIS 2017 train and val
splits, in the suite's order).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dmcgb.distracting.settings import SKYBOX_SIZE, num_videos
from dmcgb.errors import MissingData

__all__ = [
    "TRAIN_VIDEOS",
    "VAL_VIDEOS",
    "VIDEO_SPLITS",
    "video_names",
    "frames_dir",
    "frame_paths",
    "next_frame",
    "load_frame",
    "skybox_texture",
    "SkyboxTexture",
]

TRAIN_VIDEOS: tuple[str, ...] = (
    "bear", "bmx-bumps", "boat", "boxing-fisheye", "breakdance-flare", "bus",
    "car-turn", "cat-girl", "classic-car", "color-run", "crossing",
    "dance-jump", "dancing", "disc-jockey", "dog-agility", "dog-gooses",
    "dogs-scale", "drift-turn", "drone", "elephant", "flamingo", "hike",
    "hockey", "horsejump-low", "kid-football", "kite-walk", "koala",
    "lady-running", "lindy-hop", "longboard", "lucia", "mallard-fly",
    "mallard-water", "miami-surf", "motocross-bumps", "motorbike", "night-race",
    "paragliding", "planes-water", "rallye", "rhino", "rollerblade",
    "schoolgirls", "scooter-board", "scooter-gray", "sheep", "skate-park",
    "snowboard", "soccerball", "stroller", "stunt", "surf", "swing", "tennis",
    "tractor-sand", "train", "tuk-tuk", "upside-down", "varanus-cage", "walking",
)  # fmt: skip
"""The 60 DAVIS 2017 train sequences, in the suite's order (DMControl-GB evaluates on these)."""

VAL_VIDEOS: tuple[str, ...] = (
    "bike-packing", "blackswan", "bmx-trees", "breakdance", "camel",
    "car-roundabout", "car-shadow", "cows", "dance-twirl", "dog", "dogs-jump",
    "drift-chicane", "drift-straight", "goat", "gold-fish", "horsejump-high",
    "india", "judo", "kite-surf", "lab-coat", "libby", "loading", "mbike-trick",
    "motocross-jump", "paragliding-launch", "parkour", "pigs", "scooter-black",
    "shooting", "soapbox",
)  # fmt: skip
"""The 30 DAVIS 2017 val sequences, in the suite's order."""

VIDEO_SPLITS: dict[str, tuple[str, ...]] = {"train": TRAIN_VIDEOS, "val": VAL_VIDEOS}
"""The sequence lists by name; the benchmark uses ``train``."""

_SKYBOX_TEXTURE = "skybox"
_FETCH = "python -m dmcgb.data fetch davis"


def video_names(split: str, intensity: float) -> tuple[str, ...]:
    """The sequences an intensity draws from: the first ``num_videos(intensity)`` of the list.

    Raises:
        ValueError: unknown split or intensity.
    """
    if split not in VIDEO_SPLITS:
        raise ValueError(f"expected a DAVIS split in {list(VIDEO_SPLITS)}, actual value: {split!r}")
    names = VIDEO_SPLITS[split]
    count = num_videos(intensity)
    return names if count is None else names[:count]


def frames_dir(davis_dir: Path, name: str) -> Path:
    """The folder of one sequence's 480p JPEG frames."""
    return Path(davis_dir) / "JPEGImages" / "480p" / name


def frame_paths(davis_dir: Path, name: str) -> tuple[Path, ...]:
    """A sequence's frames in playing order (sorted file names, as the suite lists them).

    Raises:
        MissingData: the folder is missing or holds no ``.jpg``; the message says how to fetch.
    """
    folder = frames_dir(davis_dir, name)
    paths = tuple(sorted(folder.glob("*.jpg"))) if folder.is_dir() else ()
    if not paths:
        raise MissingData(
            f"no DAVIS frames in {folder}: expected the DAVIS 2017 trainval 480p folder (the one "
            f"holding JPEGImages/480p/<sequence>/*.jpg); run `{_FETCH}`, or pass "
            "davis_dir=<that folder>"
        )
    return paths


def next_frame(index: int, direction: int, count: int) -> tuple[int, int]:
    """One change of the frame index: (index, direction) after moving one frame.

    At or below the first frame it turns forward; past the last it clamps there and turns
    backward.
    """
    index += direction
    if index <= 0:
        index, direction = 0, abs(direction)
    if index >= count:
        index, direction = count - 1, -abs(direction)
    return index, direction


def load_frame(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a JPEG frame, decoded by Pillow (as the suite does)."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def skybox_texture(frame: np.ndarray, size: int = SKYBOX_SIZE) -> np.ndarray:
    """A frame as the flat (size * size * 3,) uint8 skybox texture: nearest-neighbour resize.

    Pixel (i, j) of the texture is pixel (floor((i + 0.5) * H / size), floor((j + 0.5) * W /
    size)) of the frame: Pillow's NEAREST, the default of ``Image.resize`` before Pillow 7.
    """
    from PIL import Image

    if frame.shape[:2] == (size, size):
        return np.ascontiguousarray(frame).reshape(-1)
    resized = Image.fromarray(frame).resize((size, size), Image.Resampling.NEAREST)
    return np.asarray(resized).reshape(-1)


class SkyboxTexture:
    """Shows images on the skybox of a dm_control physics.

    At construction the skybox texture (an 800x4800 cube, one face per 800 rows) is cut to
    its first 800x800 face, which MuJoCo then repeats on all six faces, as the suite does.

    Args:
        physics: a dm_control suite physics whose texture ``skybox`` is 800 px wide.
    """

    def __init__(self, physics) -> None:
        import mujoco

        model = physics.model
        self._physics = physics
        self.texture_id = mujoco.mj_name2id(model.ptr, mujoco.mjtObj.mjOBJ_TEXTURE, _SKYBOX_TEXTURE)
        if self.texture_id < 0 or model.tex_width[self.texture_id] != SKYBOX_SIZE:
            raise ValueError(
                f"expected a {SKYBOX_SIZE} px wide texture named 'skybox' in the model"
            )
        model.tex_height[self.texture_id] = SKYBOX_SIZE
        self._address = int(model.tex_adr[self.texture_id])
        self.size = SKYBOX_SIZE * SKYBOX_SIZE * int(model.tex_nchannel[self.texture_id])

    def show(self, texture: np.ndarray) -> None:
        """Write a flat texture (from ``skybox_texture``) into the model and upload it."""
        if texture.shape != (self.size,):
            raise ValueError(
                f"expected a texture of {self.size} bytes, actual shape {texture.shape}"
            )
        import mujoco

        physics = self._physics
        physics.model.tex_data[self._address : self._address + self.size] = texture
        with physics.contexts.gl.make_current() as ctx:
            ctx.call(
                mujoco.mjr_uploadTexture,
                physics.model.ptr,
                physics.contexts.mujoco.ptr,
                self.texture_id,
            )

    def pixels(self) -> np.ndarray:
        """The flat texture the model holds now (a copy)."""
        return self._physics.model.tex_data[self._address : self._address + self.size].copy()
