"""Fixtures of the dmcgb tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from dmcgb.data import download


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data dir; downloads allowed; no waiting between retries."""
    root = tmp_path / "cache"
    monkeypatch.setenv("DMCGB_DATA_DIR", str(root))
    monkeypatch.delenv("DMCGB_OFFLINE", raising=False)
    monkeypatch.delenv("DMCGB_MIRROR", raising=False)
    monkeypatch.setattr(download, "RETRY_DELAYS", (0.0, 0.0, 0.0))
    return root
