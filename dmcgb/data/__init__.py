"""The data layer: the benchmark's videos and colours, and Places365, fetched and cached.

Every asset is described once in ``ASSETS`` (name, upstream URL pinned to a commit or a
versioned path, size, hash). ``ensure(name)`` returns the cached file, fetching it first if
it is missing; nothing is written when it is already there.

Cache: ``<data_dir()>/<asset path>``; ``data_dir()`` is ``$DMCGB_DATA_DIR``, else the user
cache dir (``~/.cache/dmcgb`` on Linux). For the DMControl-GB files the asset path is their
path under the benchmark's ``src/env/data/`` (``video_hard/video0.mp4``, ``color_easy.pt``);
Places365 archives go to ``places365/<file>.tar`` and are extracted to ``places365/<split>/``.

Environment: ``DMCGB_MIRROR`` (a base URL serving ``<mirror>/<asset path>``, replacing every
upstream host), ``DMCGB_OFFLINE=1`` (never download; a missing file raises OfflineError).

Command line: ``python -m dmcgb.data fetch all|video_easy|video_hard|color_easy|color_hard|
places365-val|places365-train|<asset>...``, ``list``, ``verify``; options ``--mirror URL``,
``--data-dir DIR``. Also installed as ``dmcgb-data``.

Contents:
    data_dir, ASSETS, GROUPS, Asset, VIDEO_COUNTS, video_asset, ensure, verified,
    fetch_command_for, fetch, load_colors, places365_dir, status, verify, main.
"""

from __future__ import annotations

from dmcgb.data.cache import data_dir
from dmcgb.data.cli import main
from dmcgb.data.manifest import ASSETS, GROUPS, VIDEO_COUNTS, Asset, video_asset
from dmcgb.data.store import (
    ensure,
    fetch,
    fetch_command_for,
    load_colors,
    places365_dir,
    status,
    verified,
    verify,
)

__all__ = [
    "data_dir",
    "ASSETS",
    "GROUPS",
    "Asset",
    "VIDEO_COUNTS",
    "video_asset",
    "ensure",
    "verified",
    "fetch_command_for",
    "fetch",
    "load_colors",
    "places365_dir",
    "status",
    "verify",
    "main",
]
