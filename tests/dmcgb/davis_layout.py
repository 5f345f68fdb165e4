"""Generated stand-ins for DAVIS 2017 in its real layout (no third-party images).

The real archive, ``DAVIS-2017-trainval-480p.zip``, holds one top folder ``DAVIS/`` with
``JPEGImages/480p/<video>/00000.jpg ...``, ``Annotations/480p/<video>/00000.png ...``,
``ImageSets/2017/{train,val}.txt``, ``README.md`` and ``SOURCES.md``. The helpers below write
the same layout with small generated JPEGs whose colour encodes (video, frame), so a test can
tell from a pixel which frame of which video it sees.
"""

from __future__ import annotations

import dataclasses
import hashlib
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dmcgb import data

ARCHIVE = "DAVIS-2017-trainval-480p.zip"

FRAME_SIZE = (24, 40)  # (height, width) px of generated frames; the real ones are 480x854


def frame_color(video: int, frame: int) -> tuple[int, int, int]:
    """The flat RGB colour of generated frame ``frame`` of the ``video``-th video."""
    return (40 + 3 * video % 200, (20 + 37 * frame) % 256, 220 - 3 * video % 200)


def frame_image(
    video: int, frame: int, size: tuple[int, int] = FRAME_SIZE, color: tuple | None = None
) -> np.ndarray:
    """(H, W, 3) uint8: a flat colour with a two-pixel border that differs, so resizes show."""
    image = np.empty((*size, 3), np.uint8)
    image[:] = frame_color(video, frame) if color is None else color
    image[:2] = (255, 255, 255)
    image[:, :2] = (0, 0, 0)
    return image


def write_davis(
    root: Path,
    train: Iterable[str],
    val: Iterable[str] = (),
    frames: int = 3,
    size: tuple[int, int] = FRAME_SIZE,
    color: tuple[int, int, int] | None = None,
) -> Path:
    """Write ``root/DAVIS`` with generated sequences; returns ``root/DAVIS``.

    Video ``i`` (in train-then-val order) has ``frames`` frames coloured by ``frame_color(i, f)``
    (or all by ``color``).
    JPEG quality 100 keeps the flat colours within a level or two of the intended ones.
    """
    train, val = list(train), list(val)
    davis = root / "DAVIS"
    for index, name in enumerate(train + val):
        images = davis / "JPEGImages" / "480p" / name
        masks = davis / "Annotations" / "480p" / name
        images.mkdir(parents=True, exist_ok=True)
        masks.mkdir(parents=True, exist_ok=True)
        for frame in range(frames):
            image = Image.fromarray(frame_image(index, frame, size, color))
            image.save(images / f"{frame:05d}.jpg", quality=100)
            Image.new("P", size[::-1]).save(masks / f"{frame:05d}.png")
    sets = davis / "ImageSets" / "2017"
    sets.mkdir(parents=True, exist_ok=True)
    (sets / "train.txt").write_text("".join(f"{name}\n" for name in train))
    (sets / "val.txt").write_text("".join(f"{name}\n" for name in val))
    (davis / "README.md").write_text("Generated stand-in for DAVIS 2017 (test data).\n")
    (davis / "SOURCES.md").write_text("No sources: every image is generated.\n")
    return davis


def zip_folder(folder: Path, archive: Path) -> Path:
    """Zip ``folder`` (its name as the top-level entry), like the DAVIS archive."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted(folder.rglob("*")):
            arcname = path.relative_to(folder.parent).as_posix()
            zipped.write(path, arcname + ("/" if path.is_dir() else ""))
    return archive


def publish_davis(davis: Path, mirror: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Zip ``davis`` where a mirror serves the archive; the manifest expects its hash and size."""
    zipped = zip_folder(davis, mirror / "davis" / ARCHIVE)
    digest = hashlib.sha256(zipped.read_bytes()).hexdigest()
    asset = dataclasses.replace(data.ASSETS["davis"], digest=digest, size=zipped.stat().st_size)
    monkeypatch.setitem(data.ASSETS, "davis", asset)
    return zipped
