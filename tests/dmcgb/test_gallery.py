"""The DMC modes gallery: one tile per (task, mode), each the env's own first frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import dmcgb
from dmcgb import gallery
from dmcgb.robot.gallery import save_png
from tests.conftest import SEED

_TILE = 24  # px


def _tile(image, row: int, col: int) -> np.ndarray:
    left, top = gallery._ROW_LABEL_WIDTH + col * _TILE, gallery._LABEL_HEIGHT + row * _TILE
    return np.asarray(image)[top : top + _TILE, left : left + _TILE]


def test_tiles_are_the_envs_first_frames(tmp_path: Path) -> None:
    modes = ("train", "rotatehard")
    image = gallery.render_gallery(
        ["CartpoleSwingup"], modes, seed=SEED, episode=3, tile_size=_TILE
    )
    assert image.size == (gallery._ROW_LABEL_WIDTH + 2 * _TILE, gallery._LABEL_HEIGHT + _TILE)
    for col, mode in enumerate(modes):
        env = dmcgb.make(
            dmcgb.env_id("CartpoleSwingup", mode), render_mode="rgb_array", render_size=_TILE
        )
        env.reset(seed=SEED, options={"episode": 3})
        np.testing.assert_array_equal(_tile(image, 0, col), env.render())
        env.close()
    out = tmp_path / "docs" / "dmc_modes.png"
    save_png(image, out)
    assert out.is_file() and not list(out.parent.glob("*.tmp"))


def test_the_default_columns_and_bad_modes() -> None:
    assert gallery.DEFAULT_MODES[:5] == (
        "train",
        "coloreasy",
        "colorhard",
        "videoeasy",
        "videohard",
    )
    assert gallery.DEFAULT_MODES[5:] == dmcgb.GEOMETRIC_MODES
    with pytest.raises(ValueError, match="unknown modes \\['rotatehrad'\\]"):
        gallery.render_gallery(["WalkerWalk"], ["rotatehrad"])
