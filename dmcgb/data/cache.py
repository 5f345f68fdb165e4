"""Where assets are cached, where they are downloaded from, and whether downloads are allowed.

Environment variables (read at each call, never at import):
    DMCGB_DATA_DIR: the cache folder; default ``platformdirs.user_cache_dir("dmcgb")``
        (``~/.cache/dmcgb`` on Linux, or ``$XDG_CACHE_HOME/dmcgb``).
    DMCGB_MIRROR: a base URL that replaces every upstream host; it serves each asset at
        ``<mirror>/<asset path>``.
    DMCGB_OFFLINE: ``1`` (or ``true``/``yes``) forbids downloads; a missing asset raises
        OfflineError.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from dmcgb.data.manifest import Asset

__all__ = [
    "data_dir",
    "mirror_url",
    "is_offline",
    "asset_url",
    "cached_path",
    "fetch_command",
]

_TRUE = {"1", "true", "yes", "on"}


def data_dir() -> Path:
    """The cache folder: ``$DMCGB_DATA_DIR``, else the user cache dir ``.../dmcgb``.

    The folder is not created here: reading a populated, read-only folder never writes.
    """
    override = os.environ.get("DMCGB_DATA_DIR")
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_cache_dir("dmcgb", appauthor=False))


def mirror_url(mirror: str | None = None) -> str | None:
    """The mirror base URL: the argument, else ``$DMCGB_MIRROR``, else None (upstream)."""
    mirror = mirror or os.environ.get("DMCGB_MIRROR") or None
    return mirror.rstrip("/") if mirror else None


def is_offline() -> bool:
    """Whether ``$DMCGB_OFFLINE`` forbids downloads."""
    return os.environ.get("DMCGB_OFFLINE", "").strip().lower() in _TRUE


def asset_url(asset: Asset, mirror: str | None = None) -> str:
    """The address to download ``asset`` from: ``<mirror>/<asset path>`` or upstream."""
    base = mirror_url(mirror)
    return f"{base}/{asset.path}" if base else asset.url


def cached_path(asset: Asset, root: Path | None = None) -> Path:
    """Where ``asset``'s file lies in the cache (the archive itself, for an archive)."""
    return (root or data_dir()) / asset.path


def fetch_command(group: str) -> str:
    """The shell command that fetches ``group``, for error messages."""
    return f"python -m dmcgb.data fetch {group}"
