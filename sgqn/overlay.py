"""Natural images for the self-supervised overlay s~ = (1 - alpha) s + alpha image.

Sources (``--overlay-source``):

* ``places365``: the Places365 validation images through ``dmcgb.data`` (the paper's choice).
* a folder: every JPEG/PNG/BMP/WebP image under it.
* ``embedded``: procedurally generated natural-looking textures (fractal noise in random colour
  palettes, sky-like gradients); no data needed, but not the paper's distribution.
* ``auto``: ``places365`` if it is already cached, else ``embedded`` with a loud warning.

Decoding never runs on the training thread: :class:`OverlayPool` keeps decoded, resized images
on the training device, a background thread decodes replacements, and ``sample(n)`` only
indexes the pool.
"""

from __future__ import annotations

import queue
import sys
import threading
import warnings
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from PIL import Image

__all__ = [
    "ImageSource",
    "FolderSource",
    "EmbeddedSource",
    "OverlayPool",
    "resolve_source",
    "IMAGE_SUFFIXES",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
_MIN_CROP = 0.6  # smallest random crop side, as a share of the image's shorter side


class ImageSource(Protocol):
    """Something that makes (n, 3, S, S) uint8 images; called off the training thread."""

    description: str

    def images(self, n: int, size: int, rng: np.random.Generator) -> np.ndarray: ...


class FolderSource:
    """Random images of a folder (searched recursively), randomly cropped, flipped, resized.

    Raises:
        FileNotFoundError: the folder does not exist or holds no images.
    """

    def __init__(self, folder: str | Path, description: str | None = None) -> None:
        self.folder = Path(folder).expanduser()
        if not self.folder.is_dir():
            raise FileNotFoundError(
                f"overlay folder {str(self.folder)!r} does not exist; pass --overlay-source "
                "places365, embedded, or a folder of images"
            )
        self.paths = sorted(p for p in self.folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.paths:
            raise FileNotFoundError(
                f"no images ({', '.join(IMAGE_SUFFIXES)}) under {str(self.folder)!r}; pass "
                "--overlay-source places365, embedded, or a folder of images"
            )
        self.description = description or f"folder {self.folder} ({len(self.paths)} images)"

    def _load(self, path: Path, size: int, rng: np.random.Generator) -> np.ndarray | None:
        try:
            with Image.open(path) as img:
                img = img.convert("RGB")
        except OSError:  # a truncated or undecodable file: skip it
            return None
        w, h = img.size
        side = int(min(w, h) * rng.uniform(_MIN_CROP, 1.0))
        x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
        img = img.resize((size, size), Image.BILINEAR, box=(x, y, x + side, y + side))
        array = np.asarray(img)
        if rng.random() < 0.5:
            array = array[:, ::-1]
        return array.transpose(2, 0, 1)

    def images(self, n: int, size: int, rng: np.random.Generator) -> np.ndarray:
        out = np.empty((n, 3, size, size), np.uint8)
        filled = 0
        for _ in range(20 * n):  # tolerate a few broken files, not a folder of them
            image = self._load(self.paths[int(rng.integers(len(self.paths)))], size, rng)
            if image is not None:
                out[filled] = image
                filled += 1
                if filled == n:
                    return out
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

    def _image(self, size: int, rng: np.random.Generator) -> np.ndarray:
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

    def images(self, n: int, size: int, rng: np.random.Generator) -> np.ndarray:
        return np.stack([self._image(size, rng) for _ in range(n)])


def _places365_folder(allow_fetch: bool) -> Path:
    """The Places365 validation folder from the data layer; fetching only if allowed."""
    from dmcgb import data

    return Path(data.places365_dir("val", download=allow_fetch))


def _warn_loudly(message: str) -> None:
    banner = "!" * 78
    print(f"\n{banner}\nWARNING: {message}\n{banner}\n", file=sys.stderr, flush=True)
    warnings.warn(message, stacklevel=3)


def resolve_source(spec: str) -> ImageSource:
    """The image source named by ``--overlay-source``.

    Args:
        spec: ``places365``, ``embedded``, ``auto``, or a folder path.

    Raises:
        dmcgb.errors.MissingData: ``places365`` is not cached and cannot be fetched.
        FileNotFoundError: a folder that does not exist or holds no images.
    """
    if spec == "embedded":
        return EmbeddedSource()
    if spec == "places365":
        folder = _places365_folder(allow_fetch=True)
        return FolderSource(folder, description=f"places365 val ({folder})")
    if spec == "auto":
        from dmcgb.errors import MissingData

        try:
            folder = _places365_folder(allow_fetch=False)
            return FolderSource(folder, description=f"places365 val ({folder})")
        except (MissingData, FileNotFoundError, ImportError, AttributeError) as error:
            _warn_loudly(
                "Places365 is not cached, so the overlay uses EMBEDDED PROCEDURAL TEXTURES, "
                "not the paper's Places365 images; results may differ from the paper. Fetch it "
                "with `python -m dmcgb.data fetch places365-val` (or pass --overlay-source with a "
                f"folder of images). Reason: {error}"
            )
            return EmbeddedSource()
    return FolderSource(spec)


class OverlayPool:
    """Decoded overlay images on the training device, refreshed by a background thread.

    Args:
        source: where images come from.
        pool_size: images kept on the device.
        image_size: height and width of the images.
        device: the training device.
        seed: seeds which images are decoded and where they go in the pool.
        refresh_chunk: images decoded per background batch.
        refresh_every: ``sample`` calls between swaps of one ready batch into the pool.
        background: False decodes the pool once and never refreshes it.
    """

    def __init__(
        self,
        source: ImageSource,
        pool_size: int,
        image_size: int,
        device: torch.device | str,
        seed: int = 0,
        refresh_chunk: int = 64,
        refresh_every: int = 8,
        background: bool = True,
    ) -> None:
        if pool_size < 1:
            raise ValueError(f"overlay pool size must be >= 1, actual value: {pool_size}")
        self.source = source
        self.description = source.description
        self.image_size = image_size
        self.device = torch.device(device)
        self.refresh_chunk = min(refresh_chunk, pool_size)
        self.refresh_every = refresh_every
        self.swaps = 0
        self._calls = 0
        self._slot_rng = np.random.default_rng([seed, 1])
        initial = source.images(pool_size, image_size, np.random.default_rng([seed, 0]))
        self.pool = torch.from_numpy(initial).to(self.device)  # (P, 3, S, S) uint8
        self._ready: queue.Queue[torch.Tensor] = queue.Queue(maxsize=2)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(
                target=self._produce, args=(np.random.default_rng([seed, 2]),), daemon=True
            )
            self._thread.start()

    def _produce(self, rng: np.random.Generator) -> None:
        """Background thread: decode batches until stopped."""
        pin = self.device.type == "cuda"
        try:
            while not self._stop.is_set():
                chunk = torch.from_numpy(
                    self.source.images(self.refresh_chunk, self.image_size, rng)
                )
                if pin:
                    chunk = chunk.pin_memory()
                while not self._stop.is_set():
                    try:
                        self._ready.put(chunk, timeout=0.2)
                        break
                    except queue.Full:
                        continue
        except Exception as error:  # surfaced on the training thread by sample()
            self._error = error

    def _maybe_refresh(self) -> None:
        if self._error is not None:
            raise RuntimeError(f"overlay image decoding failed: {self._error}") from self._error
        self._calls += 1
        if self._thread is None or self._calls % self.refresh_every:
            return
        try:
            chunk = self._ready.get_nowait()
        except queue.Empty:  # the decoder is behind; keep training on the current pool
            return
        slots = self._slot_rng.choice(len(self.pool), size=len(chunk), replace=False)
        self.pool[torch.from_numpy(slots).to(self.device)] = chunk.to(
            self.device, non_blocking=True
        )
        self.swaps += 1

    def sample(self, n: int) -> torch.Tensor:
        """``n`` random pool images, (n, 3, S, S) uint8 on the training device."""
        self._maybe_refresh()
        idx = torch.randint(0, len(self.pool), (n,), device=self.device)
        return self.pool[idx]

    def close(self) -> None:
        """Stop the background thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None

    def __del__(self) -> None:
        self._stop.set()
