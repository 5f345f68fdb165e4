"""Render the robot scenes' variants side by side into one labelled PNG.

Usage::

    python -m dmcgb.robot.gallery --out docs/robot_variants.png

One row per task of ``dmcgb.robot.TASKS``, one column per variant (train, test1 .. test5), all at the
first state of the episode for the same seed, so only the appearance differs.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw

from dmcgb.atomic import atomic_path
from dmcgb.robot import ROBOT_VARIANTS, TASKS, id_task_name
from dmcgb.robot.env import RobotEnv

__all__ = ["render_gallery", "save_png", "main"]

_LABEL_HEIGHT = 18  # px above each column
_ROW_LABEL_WIDTH = 70  # px left of each row
_PALETTE_COLORS = 256  # the PNG is palette-quantised to keep it small


def render_gallery(seed: int = 0, tile_size: int = 200) -> Image.Image:
    """Return the gallery image: tasks as rows, variants as columns, labelled.

    Args:
        seed: the episode seed shared by all tiles.
        tile_size: side of each rendered view, pixels.
    """
    width = _ROW_LABEL_WIDTH + tile_size * len(ROBOT_VARIANTS)
    height = _LABEL_HEIGHT + tile_size * len(TASKS)
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    for col, variant in enumerate(ROBOT_VARIANTS):
        draw.text((_ROW_LABEL_WIDTH + col * tile_size + 4, 3), variant, fill="black")
    for row, task in enumerate(TASKS):
        top = _LABEL_HEIGHT + row * tile_size
        label = id_task_name(task).removeprefix("Robot")
        draw.text((4, top + tile_size // 2 - 6), label, fill="black")
        for col, variant in enumerate(ROBOT_VARIANTS):
            env = RobotEnv(task, variant, render_mode="rgb_array", render_size=tile_size)
            try:
                env.reset(seed=seed)
                frame = env.render()
            finally:
                env.close()
            canvas.paste(Image.fromarray(frame), (_ROW_LABEL_WIDTH + col * tile_size, top))
    return canvas


def save_png(image: Image.Image, path: Path) -> None:
    """Write `image` to `path` as a palette PNG, atomically (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    small = image.quantize(colors=_PALETTE_COLORS, dither=Image.Dither.NONE)
    with atomic_path(path) as tmp:
        small.save(tmp, format="PNG", optimize=True)


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point: parse arguments, render, save."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/robot_variants.png"))
    parser.add_argument("--seed", type=int, default=0, help="episode seed of every tile")
    parser.add_argument("--tile-size", type=int, default=200, help="pixels per view")
    args = parser.parse_args(argv)
    image = render_gallery(seed=args.seed, tile_size=args.tile_size)
    save_png(image, args.out)
    size_kb = args.out.stat().st_size / 1024
    print(f"wrote {args.out} ({image.width}x{image.height} px, {size_kb:.0f} KB)")


if __name__ == "__main__":
    main()
