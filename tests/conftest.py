"""Shared test fixtures: the seed, the real DMControl-GB data, GPU skipping."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

SEED = 12345

_REPO = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    env = os.environ.get("DMCGB_SHARED_DATA")
    return Path(env) if env else _REPO.parent / "shared" / "dmcgb-data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real DMControl-GB files (videos, colours) beside the checkout, read-only."""
    path = _shared_data_dir()
    if not (path / "SHA256SUMS").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"the real DMControl-GB data is expected at {path} on CI")
        pytest.skip(f"no DMControl-GB data at {path} (set DMCGB_SHARED_DATA)")
    return path


# Our copy of video_easy lacks these upstream videos; env tests stand other real videos in.
_MISSING_VIDEO_EASY = {3: 0, 4: 1, 5: 2, 7: 6}


def _video_easy(index: int) -> str:
    return f"video_easy/video{index}.mp4"


@pytest.fixture(scope="session")
def env_data_dir(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir of links to the real files, complete for the env tests.

    The four video_easy files our copy lacks are links to other real video_easy files (their
    stand-ins), so that env tests can run every episode of video_easy; the manifest pins the
    real files, so a test that reads the stand-ins must also ``expect_stand_ins``. Data-layer
    tests use the real folder.
    """
    root = tmp_path_factory.mktemp("dmcgb-data")
    for source in shared_data.rglob("*"):
        if source.is_file():
            target = root / source.relative_to(shared_data)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(source)
    for missing, stand_in in _MISSING_VIDEO_EASY.items():
        target = root / _video_easy(missing)
        if not target.exists():
            target.symlink_to(shared_data / _video_easy(stand_in))
    _davis_stand_in(root)
    return root


def _davis_stand_in(root: Path) -> None:
    """Generated DAVIS sequences where the cache keeps the extracted archive, so that the
    distractingcs ids run offline (no test looks at DAVIS's own pixels through it)."""
    from dmcgb.data import ASSETS
    from dmcgb.data.archive import MARKER
    from dmcgb.distracting import TRAIN_VIDEOS
    from tests.dmcgb.davis_layout import write_davis

    asset = ASSETS["davis"]
    dest = root / asset.extract_dir
    write_davis(dest, train=TRAIN_VIDEOS, frames=3)
    marker = {"archive": "generated stand-in", "digest": asset.digest}
    (dest / MARKER).write_text(json.dumps(marker) + "\n")


def expect_stand_ins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make this process expect ``env_data_dir``'s stand-ins where the four missing videos go.

    Each missing video's manifest entry is pinned, until ``monkeypatch`` undoes it, to the
    sha256 of the real file standing in for it, so ``dmcgb.data.verified`` checks the link
    against the file it is: a test reads a known real video, never an unchecked one. Only
    this process is changed: a subprocess or spawned worker that reads a stand-in still
    expects the real video and fails with a ChecksumError naming the file.
    """
    from dmcgb.data import ASSETS, store

    for missing, stand_in in _MISSING_VIDEO_EASY.items():
        real = ASSETS[_video_easy(stand_in)]
        stand_in_pin = dataclasses.replace(
            ASSETS[_video_easy(missing)], digest=real.digest, algorithm=real.algorithm
        )
        monkeypatch.setitem(ASSETS, _video_easy(missing), stand_in_pin)
    # Files checked under these pins are checked again, against the real pins, after the test.
    monkeypatch.setattr(store, "_checked", {})


@pytest.fixture
def dmcgb_data(env_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the dmcgb cache at the real data (with the stand-ins expected), offline, so envs
    never download."""
    monkeypatch.setenv("DMCGB_DATA_DIR", str(env_data_dir))
    monkeypatch.setenv("DMCGB_OFFLINE", "1")
    expect_stand_ins(monkeypatch)
    return env_data_dir


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """One intra-op thread: on a shared 2-core machine, 2-thread OpenMP stalls whenever the
    other core is busy, which made CPU tests 20x slower; one thread is steady."""
    try:
        import torch
    except ImportError:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if has_cuda:
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
