"""Overlay sources (Places365 splits, folders, embedded textures) and the deterministic stream."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from dmcgb.data.archive import MARKER
from sgqn.train.overlay import (
    EmbeddedSource,
    FolderSource,
    OverlayStream,
    image_rng,
    random_resized_crop_box,
    resolve_source,
)
from tests.conftest import SEED


def _write_images(folder, count: int, rng: np.random.Generator) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        size = (int(rng.integers(90, 300)), int(rng.integers(90, 300)))
        array = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(array).save(folder / f"img{i}.{'png' if i % 3 else 'jpg'}")


@pytest.fixture
def image_folder(tmp_path):
    rng = np.random.default_rng(SEED)
    _write_images(tmp_path, 3, rng)
    _write_images(tmp_path / "sub", 3, rng)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    return tmp_path


def _batch(source, n: int, size: int = 84, seed: int = SEED) -> np.ndarray:
    stream = OverlayStream(source, size, "cpu", seed=seed, background=False)
    return stream.images(0, n).numpy()


def test_folder_source_decodes_resized_rgb_images_and_skips_broken_files(image_folder):
    source = FolderSource(image_folder)
    assert len(source) == 7  # 6 images + broken.jpg, not notes.txt
    assert "7 images" in source.description
    images = _batch(source, 16)
    assert images.shape == (16, 3, 84, 84) and images.dtype == np.uint8
    assert images.std() > 10


def test_folder_image_is_the_authors_random_resized_crop_and_flip(image_folder):
    """One image: a random file, RandomResizedCrop's box resized bilinearly, flipped half the time."""
    source = FolderSource(image_folder)
    flips = 0
    for index in range(12):
        got = OverlayStream(source, 32, "cpu", seed=SEED, background=False).image(index)
        rng = image_rng(SEED, index)  # replay the same draws by hand
        path = source.path(int(rng.integers(len(source))))
        if path.name == "broken.jpg":
            continue
        with Image.open(path) as img:
            img = img.convert("RGB")
            left, top, w, h = random_resized_crop_box(*img.size, rng)
            resized = img.resize((32, 32), Image.BILINEAR, box=(left, top, left + w, top + h))
        expected = np.asarray(resized).transpose(2, 0, 1)
        if rng.random() < 0.5:
            expected, flips = expected[:, :, ::-1], flips + 1
        np.testing.assert_array_equal(got, expected)
    assert 0 < flips


def test_random_resized_crop_box_has_torchvisions_scale_and_ratio():
    rng = np.random.default_rng(SEED)
    areas, ratios = [], []
    for _ in range(2000):
        left, top, w, h = random_resized_crop_box(256, 256, rng)
        assert 0 <= left and left + w <= 256 and 0 <= top and top + h <= 256
        areas.append(w * h / 256**2)
        ratios.append(w / h)
    # scale U(0.08, 1) of the area, log-ratio U(log 3/4, log 4/3), up to rounding to pixels
    assert 0.075 < min(areas) < 0.1 and 0.95 < max(areas) <= 1.0
    assert 0.73 < min(ratios) < 0.78 and 1.3 < max(ratios) < 1.37
    # No window fits a 1000x10 image in ten tries: the centred window of ratio 4/3.
    assert random_resized_crop_box(1000, 10, np.random.default_rng(0)) == (493, 0, 13, 10)
    assert random_resized_crop_box(10, 1000, np.random.default_rng(0)) == (0, 493, 10, 13)


def test_folder_source_errors_name_the_folder_and_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist.*--overlay-source"):
        FolderSource(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no images.*--overlay-source"):
        FolderSource(tmp_path)


def test_embedded_textures_are_varied_smooth_images():
    images = _batch(EmbeddedSource(), 32).astype(np.float32)
    assert images.shape == (32, 3, 84, 84)
    means = images.mean(axis=(1, 2, 3))
    assert means.std() > 10  # different images, not one texture
    # natural-image-like: neighbouring pixels correlate strongly, unlike white noise
    a, b = images[..., :-1].ravel(), images[..., 1:].ravel()
    assert np.corrcoef(a, b)[0, 1] > 0.9


def test_stream_images_are_a_pure_function_of_seed_and_index():
    """Contract 4: read-ahead threads, request sizes and restarts never change image i."""
    source = EmbeddedSource()
    reference = OverlayStream(source, 24, "cpu", seed=SEED, background=False)
    expected = torch.stack([torch.from_numpy(reference.image(i)) for i in range(40)])
    threaded = OverlayStream(source, 24, "cpu", seed=SEED, workers=3)
    try:
        parts = [threaded.images(0, 8), threaded.images(8, 3), threaded.images(11, 16)]
        assert torch.equal(torch.cat(parts), expected[:27])
        # a resumed run asks for its next image first; an out-of-order request restarts there
        assert torch.equal(threaded.images(30, 10), expected[30:40])
        assert torch.equal(threaded.images(2, 5), expected[2:7])
    finally:
        threaded.close()
    assert torch.equal(threaded.images(27, 3), expected[27:30])  # closed: decodes in place
    other = OverlayStream(source, 24, "cpu", seed=SEED + 1, background=False).images(0, 8)
    assert not torch.equal(other, expected[:8])
    with pytest.raises(ValueError, match="start >= 0 and n >= 1"):
        reference.images(0, 0)


def _fake_places365(root, split: str, content: str, count: int, rng) -> None:
    dest = root / "places365" / split
    _write_images(dest / content / "a" / "abbey", count, rng)
    (dest / MARKER).write_text("{}")


def test_auto_prefers_places365_train_then_val(monkeypatch, tmp_path):
    rng = np.random.default_rng(SEED)
    monkeypatch.setenv("DMCGB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DMCGB_OFFLINE", "1")
    _fake_places365(tmp_path, "val", "val_256", 2, rng)
    source = resolve_source("auto")
    assert isinstance(source, FolderSource) and source.description.startswith("places365-val")
    _fake_places365(tmp_path, "train", "data_256", 3, rng)
    source = resolve_source("auto")
    assert source.description.startswith("places365-train") and len(source) == 3
    assert source.folder == tmp_path / "places365" / "train" / "data_256"
    assert resolve_source("places365-val").description.startswith("places365-val")


def test_auto_falls_back_to_embedded_with_a_loud_warning_printed_once(
    monkeypatch, tmp_path, capsys
):
    monkeypatch.setenv("DMCGB_DATA_DIR", str(tmp_path))  # an empty cache: no Places365
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second copy through the warnings module
        source = resolve_source("auto")
    assert isinstance(source, EmbeddedSource)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("EMBEDDED PROCEDURAL TEXTURES") == 1
    assert "WARNING" in captured.err and "fetch places365-train" in captured.err


def test_resolve_folder_embedded_and_the_ambiguous_name(image_folder):
    assert isinstance(resolve_source(str(image_folder)), FolderSource)
    assert isinstance(resolve_source("embedded"), EmbeddedSource)
    with pytest.raises(ValueError, match="places365-train.*places365-val"):
        resolve_source("places365")


def test_image_rng_keys_seed_and_index():
    draws = {(s, i): image_rng(s, i).random() for s in (1, 2) for i in range(3)}
    assert len(set(draws.values())) == 6
    assert image_rng(1, 2).random() == draws[(1, 2)]
    assert not math.isnan(image_rng(-5, 0).random())  # any int seed
