"""Shared test fixtures: the seed, the real DMControl-GB data, GPU skipping."""

from __future__ import annotations

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


@pytest.fixture
def dmcgb_data(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the dmcgb cache at the real data, offline, so envs never download."""
    monkeypatch.setenv("DMCGB_DATA_DIR", str(shared_data))
    monkeypatch.setenv("DMCGB_OFFLINE", "1")
    return shared_data


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
