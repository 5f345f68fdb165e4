"""Render the DMControl tasks in their test modes side by side into one labelled PNG.

Usage::

    python -m dmcgb.gallery --out docs/dmc_modes.png

One row per task (default: the paper's five), one column per mode (default: DMControl-GB's
train, colour and video modes and DMC-GB2's six geometric ones), every tile the first frame of
the episode after ``reset(seed=seed, options={"episode": episode})``, so within a row only the
mode differs. The colour and video modes read their data (``python -m dmcgb.data fetch ...``,
fetched on first use otherwise); ``distractingcs`` modes need DAVIS and are left out by default.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw

from dmcgb.modes import MODES
from dmcgb.registration import GEOMETRIC_MODES, make
from dmcgb.robot.gallery import save_png
from dmcgb.tasks import PAPER_TASKS

__all__ = ["DEFAULT_MODES", "render_gallery", "main"]

DEFAULT_MODES: tuple[str, ...] = (
    "train",
    "coloreasy",
    "colorhard",
    "videoeasy",
    "videohard",
    *GEOMETRIC_MODES,
)
"""The columns of ``docs/dmc_modes.png``."""

_LABEL_HEIGHT = 18  # px above each column
_ROW_LABEL_WIDTH = 110  # px left of each row


def render_gallery(
    tasks: Sequence[str] = PAPER_TASKS,
    modes: Sequence[str] = DEFAULT_MODES,
    seed: int = 0,
    episode: int = 0,
    tile_size: int = 120,
) -> Image.Image:
    """Return the gallery image: tasks as rows, modes as columns, labelled.

    Args:
        tasks: CamelCase task names (``dmcgb.TASKS``), one row each.
        modes: mode names (``dmcgb.MODES``), one column each; every task must have them.
        seed: the reset seed of every tile.
        episode: the episode option of every tile (which video and camera position it shows).
        tile_size: side of each rendered view, pixels.

    Raises:
        dmcgb.errors.UnknownTask: a task does not exist in one of the modes.
    """
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise ValueError(f"unknown modes {unknown}; expected some of {list(MODES)}")
    width = _ROW_LABEL_WIDTH + tile_size * len(modes)
    height = _LABEL_HEIGHT + tile_size * len(tasks)
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    for col, mode in enumerate(modes):
        draw.text((_ROW_LABEL_WIDTH + col * tile_size + 4, 3), mode, fill="black")
    for row, task in enumerate(tasks):
        top = _LABEL_HEIGHT + row * tile_size
        draw.text((4, top + tile_size // 2 - 6), task, fill="black")
        for col, mode in enumerate(modes):
            env = make(f"dmcgb/{task}-{mode}-v0", render_mode="rgb_array", render_size=tile_size)
            try:
                env.reset(seed=seed, options={"episode": episode})
                frame = env.render()
            finally:
                env.close()
            canvas.paste(Image.fromarray(frame), (_ROW_LABEL_WIDTH + col * tile_size, top))
    return canvas


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point: parse arguments, render, save."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/dmc_modes.png"))
    parser.add_argument("--tasks", nargs="+", default=list(PAPER_TASKS), help="one row each")
    parser.add_argument("--modes", nargs="+", default=list(DEFAULT_MODES), help="one column each")
    parser.add_argument("--seed", type=int, default=0, help="reset seed of every tile")
    parser.add_argument("--episode", type=int, default=0, help="episode option of every tile")
    parser.add_argument("--tile-size", type=int, default=120, help="pixels per view")
    args = parser.parse_args(argv)
    image = render_gallery(args.tasks, args.modes, args.seed, args.episode, args.tile_size)
    save_png(image, args.out)
    size_kb = args.out.stat().st_size / 1024
    print(f"wrote {args.out} ({image.width}x{image.height} px, {size_kb:.0f} KB)")


if __name__ == "__main__":
    main()
