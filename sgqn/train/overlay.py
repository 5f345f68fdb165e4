"""Natural images for the overlay augmentation s~ = (1 - alpha) s + alpha image (SGQN, SODA, SVEA).

Sources (``--overlay-source``):

* ``places365-train``: the Places365-Standard train split (1.8 M images, ~24 GB) through
  ``dmcgb.data``: the split the authors' code reads (DMControl-GB's README has users download
  it), and the paper preset's default.
* ``places365-val``: the validation split (36,500 images, ~2 GB): a lighter download with the
  same kind of images.
* a folder: every JPEG/PNG/BMP/WebP image under it.
* ``embedded``: procedurally generated natural-looking textures (fractal noise in random colour
  palettes, sky-like gradients); no data needed, but not the paper's distribution.
* ``auto``: ``places365-train`` if cached, else ``places365-val`` if cached, else ``embedded``
  with a loud warning.

Folder images get the authors' transform: torchvision's ``RandomResizedCrop(size)`` (scale
0.08-1, aspect ratio 3/4-4/3, bilinear) and ``RandomHorizontalFlip()``, and each update draws
fresh images, as their ``DataLoader`` does.

Determinism (exact resume): :class:`OverlayStream` numbers the images of a run 0, 1, 2, ...;
image ``i`` is a pure function of ``(seed, i)`` (which file, which crop, which flip). The agent
asks for images ``[start, start + n)`` and keeps ``start`` in its ``state_dict()``, so a
resumed run draws the same images. Background threads decode the next images ahead of the
request; they change when an image is ready, never which image it is.
"""

from __future__ import annotations

import math
import os
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from PIL import Image

__all__ = [
    "ImageSource",
    "FolderSource",
    "EmbeddedSource",
    "OverlayStream",
    "resolve_source",
    "random_resized_crop_box",
    "image_rng",
    "IMAGE_SUFFIXES",
    "PLACES365_SOURCES",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
PLACES365_SOURCES = ("places365-train", "places365-val")
# torchvision.transforms.RandomResizedCrop's defaults.
_CROP_SCALE = (0.08, 1.0)
_CROP_RATIO = (3.0 / 4.0, 4.0 / 3.0)
_STREAM_KEY = 0x0FE7A1  # separates the overlay stream from the run's other seeded streams
_DECODE_TRIES = 20  # draws before a folder of undecodable files is an error


class ImageSource(Protocol):
    """Makes one (3, S, S) uint8 image from a random generator; called off the training thread."""

    description: str

    def image(self, size: int, rng: np.random.Generator) -> np.ndarray: ...


def image_rng(seed: int, index: int) -> np.random.Generator:
    """The generator that decides image ``index`` of the stream of run ``seed``."""
    return np.random.default_rng([seed % 2**63, _STREAM_KEY, index])


def random_resized_crop_box(
    width: int, height: int, rng: np.random.Generator
) -> tuple[int, int, int, int]:
    """(left, top, w, h) of torchvision's ``RandomResizedCrop`` with its default scale and ratio.

    Ten tries of a random area (8-100 % of the image) and log-uniform aspect ratio (3/4-4/3);
    if none fits, the largest centred window whose ratio is clamped to that range.
    """
    area = width * height
    log_ratio = (math.log(_CROP_RATIO[0]), math.log(_CROP_RATIO[1]))
    for _ in range(10):
        target_area = area * rng.uniform(*_CROP_SCALE)
        aspect = math.exp(rng.uniform(*log_ratio))
        w = round(math.sqrt(target_area * aspect))
        h = round(math.sqrt(target_area / aspect))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return left, top, w, h
    ratio = width / height
    if ratio < _CROP_RATIO[0]:
        w, h = width, round(width / _CROP_RATIO[0])
    elif ratio > _CROP_RATIO[1]:
        w, h = round(height * _CROP_RATIO[1]), height
    else:
        w, h = width, height
    return (width - w) // 2, (height - h) // 2, w, h


def _list_images(folder: Path) -> np.ndarray:
    """Relative paths of the images under folder, sorted, as a compact bytes array."""
    names = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        relative = os.path.relpath(root, folder)
        for name in sorted(files):
            if name.lower().endswith(IMAGE_SUFFIXES):
                names.append(name if relative == "." else os.path.join(relative, name))
    return np.array([n.encode() for n in names], dtype=bytes)


class FolderSource:
    """Random images of a folder (searched recursively): random resized crop, random flip.

    Raises:
        FileNotFoundError: the folder does not exist or holds no images.
    """

    def __init__(self, folder: str | Path, description: str | None = None) -> None:
        self.folder = Path(folder).expanduser()
        if not self.folder.is_dir():
            raise FileNotFoundError(
                f"overlay folder {str(self.folder)!r} does not exist; pass --overlay-source "
                "places365-train, places365-val, embedded, or a folder of images"
            )
        self.names = _list_images(self.folder)
        if not len(self.names):
            raise FileNotFoundError(
                f"no images ({', '.join(IMAGE_SUFFIXES)}) under {str(self.folder)!r}; pass "
                "--overlay-source places365-train, places365-val, embedded, or a folder of images"
            )
        where = f"{self.folder}, {len(self.names)} images"
        self.description = f"{description} ({where})" if description else f"folder ({where})"

    def __len__(self) -> int:
        return len(self.names)

    def path(self, index: int) -> Path:
        return self.folder / self.names[index].decode()

    def _load(self, path: Path, size: int, rng: np.random.Generator) -> np.ndarray | None:
        try:
            with Image.open(path) as img:
                img = img.convert("RGB")
        except OSError:  # a truncated or undecodable file: the caller draws another
            return None
        left, top, w, h = random_resized_crop_box(*img.size, rng)
        img = img.resize((size, size), Image.BILINEAR, box=(left, top, left + w, top + h))
        array = np.asarray(img)
        if rng.random() < 0.5:
            array = array[:, ::-1]
        return np.ascontiguousarray(array.transpose(2, 0, 1))

    def image(self, size: int, rng: np.random.Generator) -> np.ndarray:
        for _ in range(_DECODE_TRIES):  # tolerate a few broken files, not a folder of them
            image = self._load(self.path(int(rng.integers(len(self.names)))), size, rng)
            if image is not None:
                return image
        raise OSError(f"could not decode images under {str(self.folder)!r}")


class EmbeddedSource:
    """Procedural textures with natural-image statistics (1/f spectrum, smooth colour fields).

    Each image is fractal value noise (octaves of upsampled random grids, amplitude halving
    per octave) mapped through a random palette of 2-4 colours, blended half the time with a
    vertical sky-like gradient.
    """

    description = "embedded procedural textures (fallback, not Places365)"

    @staticmethod
    def _noise(size: int, rng: np.random.Generator) -> np.ndarray:
        field = np.zeros((size, size), np.float32)
        amplitude, total = 1.0, 0.0
        for octave in range(1, 6):
            cells = 2**octave + 1
            grid = Image.fromarray(rng.random((cells, cells), dtype=np.float32), mode="F")
            field += amplitude * np.asarray(grid.resize((size, size), Image.BICUBIC))
            total += amplitude
            amplitude *= 0.5
        field /= total
        field -= field.min()
        return field / max(float(field.max()), 1e-6)  # (S, S) in [0, 1]

    def image(self, size: int, rng: np.random.Generator) -> np.ndarray:
        palette = rng.random((int(rng.integers(2, 5)), 3), dtype=np.float32)
        stops = np.linspace(0.0, 1.0, len(palette))
        value = self._noise(size, rng)
        rgb = np.stack([np.interp(value, stops, palette[:, c]) for c in range(3)])
        if rng.random() < 0.5:
            top, bottom = rng.random(3, dtype=np.float32), rng.random(3, dtype=np.float32)
            ramp = np.linspace(0.0, 1.0, size, dtype=np.float32)[None, :, None]
            sky = top[:, None, None] * (1 - ramp) + bottom[:, None, None] * ramp
            weight = rng.uniform(0.3, 0.7)
            rgb = weight * sky + (1 - weight) * rgb
        shade = 0.6 + 0.4 * self._noise(size, rng)  # large-scale lighting variation
        return np.clip(rgb * shade * 255.0, 0, 255).astype(np.uint8)


def _places365_folder(split: str, allow_fetch: bool) -> Path:
    """A Places365 split's folder from the data layer; fetching only if allowed."""
    from dmcgb import data

    return Path(data.places365_dir(split, download=allow_fetch))


def _warn_loudly(message: str) -> None:
    """A banner on stderr, once: not also a ``warnings`` line that repeats it."""
    banner = "!" * 78
    print(f"\n{banner}\nWARNING: {message}\n{banner}\n", file=sys.stderr, flush=True)


def resolve_source(spec: str) -> ImageSource:
    """The image source named by ``--overlay-source``.

    Args:
        spec: ``places365-train``, ``places365-val``, ``embedded``, ``auto``, or a folder path.

    Raises:
        dmcgb.errors.MissingData: a Places365 split is not cached and cannot be fetched.
        FileNotFoundError: a folder that does not exist or holds no images.
        ValueError: ``places365`` without a split.
    """
    if spec == "embedded":
        return EmbeddedSource()
    if spec in PLACES365_SOURCES:
        split = spec.split("-")[1]
        return FolderSource(_places365_folder(split, allow_fetch=True), description=spec)
    if spec == "places365":
        raise ValueError(
            "--overlay-source places365 names no split: pass places365-train (the authors' "
            "images, ~24 GB) or places365-val (36,500 images, ~2 GB)"
        )
    if spec == "auto":
        from dmcgb.errors import MissingData

        reasons = []
        for name in PLACES365_SOURCES:
            try:
                folder = _places365_folder(name.split("-")[1], allow_fetch=False)
                return FolderSource(folder, description=name)
            except (MissingData, FileNotFoundError) as error:
                reasons.append(f"{name}: {error}")
        _warn_loudly(
            "Places365 is not cached, so the overlay uses EMBEDDED PROCEDURAL TEXTURES, "
            "not the paper's Places365 images; results may differ from the paper. Fetch it "
            "with `python -m dmcgb.data fetch places365-train` (the authors' images) or "
            "`... fetch places365-val` (lighter), or pass --overlay-source with a folder of "
            f"images. Reasons: {'; '.join(reasons)}"
        )
        return EmbeddedSource()
    return FolderSource(spec)


def _default_workers() -> int:
    return max(1, min(8, (os.cpu_count() or 2) - 1))


class OverlayStream:
    """The run's sequence of overlay images, decoded ahead in background threads.

    Image ``i`` is ``source.image(image_size, image_rng(seed, i))``: a pure function of the
    seed and its index, whichever thread decodes it and whenever.

    Args:
        source: where images come from.
        image_size: height and width of the images (the network's input size).
        device: where :meth:`images` puts them.
        seed: the run's seed.
        workers: decoding threads; default ``min(8, cores - 1)``, at least 1.
        background: False decodes on the calling thread, only what is asked.
    """

    def __init__(
        self,
        source: ImageSource,
        image_size: int,
        device: torch.device | str,
        seed: int = 0,
        workers: int | None = None,
        background: bool = True,
    ) -> None:
        if image_size < 1:
            raise ValueError(f"expected image_size >= 1, actual value: {image_size}")
        self.source = source
        self.description = source.description
        self.image_size = image_size
        self.device = torch.device(device)
        self.seed = seed
        self._executor = (
            ThreadPoolExecutor(workers or _default_workers(), thread_name_prefix="overlay")
            if background
            else None
        )
        self._pending: dict[int, Future[np.ndarray]] = {}
        self._submitted = 0  # images [expected, submitted) are pending
        self._expected = 0  # the start of the next request, if the caller reads in order

    def image(self, index: int) -> np.ndarray:
        """Image ``index`` of the stream, (3, S, S) uint8, decoded on this thread."""
        return self.source.image(self.image_size, image_rng(self.seed, index))

    def images(self, start: int, n: int) -> torch.Tensor:
        """Images ``start, ..., start + n - 1`` as (n, 3, S, S) uint8 on the device.

        Requests in order (each ``start`` the previous ``start + n``) find the next ``2n``
        images already decoding; any other request restarts the read-ahead there.
        """
        if start < 0 or n < 1:
            raise ValueError(f"expected start >= 0 and n >= 1, actual values: {start}, {n}")
        if self._executor is None:
            arrays = [self.image(i) for i in range(start, start + n)]
        else:
            if start != self._expected:
                self._drop_pending()
                self._submitted = start
            for i in range(max(self._submitted, start), start + 3 * n):
                self._pending[i] = self._executor.submit(self.image, i)
            self._submitted = max(self._submitted, start + 3 * n)
            arrays = [self._pending.pop(i).result() for i in range(start, start + n)]
        self._expected = start + n
        batch = torch.from_numpy(np.stack(arrays))
        if self.device.type == "cuda":
            batch = batch.pin_memory()
        return batch.to(self.device, non_blocking=True)

    def _drop_pending(self) -> None:
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()

    def close(self) -> None:
        """Stop the decoding threads."""
        if self._executor is not None:
            self._drop_pending()
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def __del__(self) -> None:
        executor = getattr(self, "_executor", None)
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
