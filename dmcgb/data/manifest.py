"""Every downloadable asset, described once: name, cache path, upstream URL, size, hash.

Contents:
    Asset: one downloadable file (and, for archives, the folder it extracts to).
    ASSETS: every asset by name.
    GROUPS: names the CLI accepts for several assets at once (``video_hard``, ``all``, ...).
    VIDEO_COUNTS, video_asset: the benchmark's background videos.
    resolve: group or asset names -> asset names.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from dmcgb.data._dmcgb_files import DMCGB_FILES

__all__ = [
    "Asset",
    "ASSETS",
    "GROUPS",
    "VIDEO_COUNTS",
    "DMCGB_COMMIT",
    "video_asset",
    "resolve",
]

DMCGB_COMMIT = "ff9c0aa8d47685ed972414c67f1b7225e37ff85e"
_DMCGB_BASE_URL = (
    "https://raw.githubusercontent.com/nicklashansen/dmcontrol-generalization-benchmark/"
    f"{DMCGB_COMMIT}/src/env/data"
)
_PLACES365_BASE_URL = "http://data.csail.mit.edu/places/places365"



@dataclass(frozen=True)
class Asset:
    """One downloadable file.

    Attributes:
        name: the name users pass to ``ensure`` and to ``python -m dmcgb.data fetch``.
        path: where the file lies under the data dir, and under a mirror's base URL.
        url: the upstream address, pinned to a commit or a versioned path.
        size: size in bytes, or None where it is not known.
        digest: hex digest of the file, or None where no published hash exists.
        algorithm: hash algorithm of ``digest`` (``"sha256"``, or ``"md5"`` where only md5 is
            published).
        extract_dir: for a tar archive, the folder under the data dir it extracts into; None
            for a plain file.
        content_dir: for an archive, the folder inside ``extract_dir`` that holds its content
            (the archive's top-level folder).
        frames: for a video, the number of frames it holds, or None where it is not known.
    """

    name: str
    path: str
    url: str
    size: int | None
    digest: str | None
    algorithm: str = "sha256"
    extract_dir: str | None = None
    content_dir: str | None = None
    frames: int | None = None

    @property
    def is_archive(self) -> bool:
        """Whether the asset is a tar archive that is extracted after download."""
        return self.extract_dir is not None


def _dmcgb_asset(path: str, size: int | None, sha256: str | None, frames: int | None) -> Asset:
    url = f"{_DMCGB_BASE_URL}/{path}"
    return Asset(name=path, path=path, url=url, size=size, digest=sha256, frames=frames)


def _places365_asset(split: str, filename: str, md5: str, content_dir: str) -> Asset:
    # The Places2 site and torchvision publish md5 only; sizes are not published as bytes.
    return Asset(
        name=f"places365-{split}",
        path=f"places365/{filename}",
        url=f"{_PLACES365_BASE_URL}/{filename}",
        size=None,
        digest=md5,
        algorithm="md5",
        extract_dir=f"places365/{split}",
        content_dir=content_dir,
    )


ASSETS: dict[str, Asset] = {row[0]: _dmcgb_asset(*row) for row in DMCGB_FILES}
ASSETS.update(
    (asset.name, asset)
    for asset in (
        _places365_asset("val", "val_256.tar", "e27b17d8d44f4af9a78502beb927f808", "val_256"),
        _places365_asset(
            "train",
            "train_256_places365standard.tar",
            "53ca1c756c3d1e7809517cc47c5561c5",
            "data_256",
        ),
    )
)


def _count_videos(mode: str) -> int:
    return sum(name.startswith(f"{mode}/video") for name in ASSETS)


VIDEO_COUNTS: dict[str, int] = {mode: _count_videos(mode) for mode in ("video_easy", "video_hard")}
"""Background videos per video mode, as the file table lists them."""


def video_asset(mode: str, index: int) -> str:
    """Name of one background video.

    Args:
        mode: ``"video_easy"`` or ``"video_hard"``.
        index: video number, 0 <= index < ``VIDEO_COUNTS[mode]``.

    Returns:
        The asset name, e.g. ``"video_hard/video3.mp4"``.

    Raises:
        ValueError: unknown mode or index out of range.
    """
    if mode not in VIDEO_COUNTS:
        raise ValueError(f"expected a video mode in {sorted(VIDEO_COUNTS)}, actual value: {mode!r}")
    count = VIDEO_COUNTS[mode]
    if not 0 <= index < count:
        raise ValueError(
            f"expected a {mode} video index in 0..{count - 1}, actual value: {index!r}"
        )
    return f"{mode}/video{index}.mp4"


def _video_names(mode: str) -> tuple[str, ...]:
    return tuple(video_asset(mode, i) for i in range(VIDEO_COUNTS[mode]))


GROUPS: dict[str, tuple[str, ...]] = {
    "video_easy": _video_names("video_easy"),
    "video_hard": _video_names("video_hard"),
    "color_easy": ("color_easy.pt",),
    "color_hard": ("color_hard.pt",),
    "places365-val": ("places365-val",),
    "places365-train": ("places365-train",),
}
# ``all`` is the benchmark's own files; Places365 (tens of GB for train) is fetched on purpose.
GROUPS["all"] = tuple(
    name
    for group in ("color_easy", "color_hard", "video_easy", "video_hard")
    for name in GROUPS[group]
)


def resolve(names: Iterable[str]) -> list[str]:
    """Expand group names and check asset names, keeping order and dropping repeats.

    Raises:
        ValueError: a name that is neither a group nor an asset, with the closest matches.
    """
    if isinstance(names, str):
        names = [names]
    resolved: dict[str, None] = {}
    for name in names:
        if name in GROUPS:
            resolved.update(dict.fromkeys(GROUPS[name]))
        elif name in ASSETS:
            resolved[name] = None
        else:
            choices = [*GROUPS, *ASSETS]
            close = difflib.get_close_matches(name, choices, n=3)
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise ValueError(
                f"unknown asset {name!r}{hint} (groups: {', '.join(GROUPS)}; "
                "`python -m dmcgb.data list` shows every asset)"
            )
    return list(resolved)
