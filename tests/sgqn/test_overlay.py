"""Overlay sources and the device pool."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from PIL import Image

from sgqn.overlay import EmbeddedSource, FolderSource, OverlayPool, resolve_source
from tests.conftest import SEED


@pytest.fixture
def image_folder(tmp_path):
    rng = np.random.default_rng(SEED)
    (tmp_path / "sub").mkdir()
    for i in range(6):
        size = (int(rng.integers(90, 300)), int(rng.integers(90, 300)))
        array = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        folder = tmp_path / "sub" if i % 2 else tmp_path
        Image.fromarray(array).save(folder / f"img{i}.{'png' if i % 3 else 'jpg'}")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    return tmp_path


def test_folder_source_decodes_resized_rgb_images_and_skips_broken_files(image_folder):
    source = FolderSource(image_folder)
    assert len(source.paths) == 7  # 6 images + broken.jpg, not notes.txt
    images = source.images(16, 84, np.random.default_rng(SEED))
    assert images.shape == (16, 3, 84, 84) and images.dtype == np.uint8
    assert images.std() > 10


def test_folder_source_errors_name_the_folder_and_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist.*--overlay-source"):
        FolderSource(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no images.*--overlay-source"):
        FolderSource(tmp_path)


def test_embedded_textures_are_varied_smooth_images():
    images = EmbeddedSource().images(32, 84, np.random.default_rng(SEED)).astype(np.float32)
    assert images.shape == (32, 3, 84, 84)
    means = images.mean(axis=(1, 2, 3))
    assert means.std() > 10  # different images, not one texture
    # natural-image-like: neighbouring pixels correlate strongly, unlike white noise
    a, b = images[..., :-1].ravel(), images[..., 1:].ravel()
    assert np.corrcoef(a, b)[0, 1] > 0.9


def test_embedded_source_is_deterministic_per_seed():
    a = EmbeddedSource().images(4, 84, np.random.default_rng(1))
    b = EmbeddedSource().images(4, 84, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)


def test_auto_falls_back_to_embedded_with_a_loud_warning(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DMCGB_DATA_DIR", str(tmp_path))  # an empty cache: no Places365
    with pytest.warns(UserWarning, match="EMBEDDED PROCEDURAL TEXTURES"):
        source = resolve_source("auto")
    assert isinstance(source, EmbeddedSource)
    assert "WARNING" in capsys.readouterr().err


def test_resolve_folder_and_embedded(image_folder):
    assert isinstance(resolve_source(str(image_folder)), FolderSource)
    assert isinstance(resolve_source("embedded"), EmbeddedSource)


def test_pool_samples_are_pool_images_on_the_device():
    torch.manual_seed(SEED)
    pool = OverlayPool(EmbeddedSource(), 32, 84, "cpu", seed=SEED, background=False)
    batch = pool.sample(64)
    assert batch.shape == (64, 3, 84, 84) and batch.dtype == torch.uint8
    flat = pool.pool.flatten(1)
    for image in batch.flatten(1):
        assert (flat == image).all(dim=1).any()


def test_background_thread_refreshes_the_pool():
    torch.manual_seed(SEED)
    pool = OverlayPool(EmbeddedSource(), 16, 84, "cpu", seed=SEED, refresh_chunk=4, refresh_every=1)
    before = pool.pool.clone()
    try:
        deadline = time.monotonic() + 20
        while pool.swaps < 3 and time.monotonic() < deadline:
            pool.sample(8)
            time.sleep(0.01)
    finally:
        pool.close()
    assert pool.swaps >= 3
    changed = (pool.pool != before).flatten(1).any(dim=1)
    assert 4 <= int(changed.sum()) <= 12
