"""Every downloadable asset, described once: name, cache path, upstream URL, size, hash.

Contents:
    Asset: one downloadable file (and, for archives, the folder it extracts to).
    ASSETS: every asset by name.
    GROUPS: names the CLI accepts for several assets at once (``video_hard``, ``all``, ...).
    VIDEO_COUNTS, video_asset: the benchmark's background videos.
    DAVIS_URL, DAVIS_SHA256_SOURCE: where the DAVIS 2017 archive and its checksum come from.
    resolve: group or asset names -> asset names.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from dmcgb.data._dmcgb_files import DMCGB_FILES, DMCGB_GIT_BLOBS
from dmcgb.data.digests import GIT_BLOB

__all__ = [
    "Asset",
    "ASSETS",
    "GROUPS",
    "VIDEO_COUNTS",
    "DMCGB_COMMIT",
    "DAVIS_URL",
    "DAVIS_SHA256_SOURCE",
    "video_asset",
    "resolve",
]

DMCGB_COMMIT = "ff9c0aa8d47685ed972414c67f1b7225e37ff85e"
_DMCGB_BASE_URL = (
    "https://raw.githubusercontent.com/nicklashansen/dmcontrol-generalization-benchmark/"
    f"{DMCGB_COMMIT}/src/env/data"
)
_PLACES365_BASE_URL = "http://data.csail.mit.edu/places/places365"


DAVIS_URL = "https://data.vision.ee.ethz.ch/csergi/share/davis/DAVIS-2017-trainval-480p.zip"
"""The DAVIS 2017 train+val 480p archive, the address DMControl-GB's README gives."""
DAVIS_SHA256_SOURCE = (
    "https://github.com/tensorflow/datasets/blob/90b66237ad09c9e5b9b1bc61b646db7b1fb0713c/"
    "tensorflow_datasets/video/davis/checksums.tsv"
)
"""The DAVIS authors publish no checksum; TensorFlow Datasets records the size and sha256 of
the file at DAVIS_URL here and checks them on every download."""


@dataclass(frozen=True)
class Asset:
    """One downloadable file.

    Attributes:
        name: the name users pass to ``ensure`` and to ``python -m dmcgb.data fetch``.
        path: where the file lies under the data dir, and under a mirror's base URL.
        url: the upstream address, pinned to a commit or a versioned path.
        size: size in bytes, or None where it is not known (the digest still pins the
            content).
        digest: hex digest of the file: every asset is checked against one.
        algorithm: hash algorithm of ``digest``: ``"sha256"``; ``"md5"`` where only md5 is
            published; ``GIT_BLOB`` (``"git-blob"``) where the only hash is the file's git blob
            id in the repository's tree at the pinned commit.
        extract_dir: for an archive (tar or zip), the folder under the data dir it extracts
            into; None for a plain file.
        content_dir: for an archive, the folder inside ``extract_dir`` that holds its content
            (the archive's top-level folder).
        frames: for a video, the number of frames it holds, or None where it is not known.
    """

    name: str
    path: str
    url: str
    size: int | None
    digest: str
    algorithm: str = "sha256"
    extract_dir: str | None = None
    content_dir: str | None = None
    frames: int | None = None

    @property
    def is_archive(self) -> bool:
        """Whether the asset is an archive (tar or zip) that is extracted after download."""
        return self.extract_dir is not None


def _dmcgb_asset(path: str, size: int | None, sha256: str | None, frames: int | None) -> Asset:
    url = f"{_DMCGB_BASE_URL}/{path}"
    if sha256 is None:  # known by its git blob id only
        digest, algorithm = DMCGB_GIT_BLOBS[path], GIT_BLOB
    else:
        digest, algorithm = sha256, "sha256"
    return Asset(
        name=path, path=path, url=url, size=size, digest=digest, algorithm=algorithm, frames=frames
    )


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


DAVIS = Asset(
    name="davis",
    path="davis/DAVIS-2017-trainval-480p.zip",
    url=DAVIS_URL,
    size=832_766_765,  # bytes, from DAVIS_SHA256_SOURCE
    digest="e3d0b5b77c3d031b000a19e0e25e3e2cac65d183755601bc2cf066df1a2aa492",
    extract_dir="davis/trainval-480p",
    content_dir="DAVIS",
)
"""DAVIS 2017 trainval 480p: the distracting_cs backgrounds (``DAVIS/JPEGImages/480p/<video>``)."""

ASSETS: dict[str, Asset] = {row[0]: _dmcgb_asset(*row) for row in DMCGB_FILES}
ASSETS.update(
    (asset.name, asset)
    for asset in (
        DAVIS,
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
    "davis": ("davis",),
}
# ``all`` is the benchmark's own files; Places365 (tens of GB for train) and DAVIS (794 MiB,
# with its own terms) are fetched on purpose.
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
