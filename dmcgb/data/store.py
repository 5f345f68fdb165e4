"""The cache's contents: get an asset (fetching it if missing), report and verify what is cached.

``ensure`` never writes when the asset is already there, so a populated, read-only data dir
(e.g. ``DMCGB_DATA_DIR=../shared/dmcgb-data``) works. A fetch needs a writable data dir,
network (or a mirror), and ``DMCGB_OFFLINE`` unset.
"""

from __future__ import annotations

import contextlib
import stat
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import requests

from dmcgb.data.archive import extract, is_extracted, read_marker
from dmcgb.data.cache import (
    asset_url,
    cached_path,
    data_dir,
    fetch_command,
    is_offline,
    mirror_url,
)
from dmcgb.data.colors import parse_colors
from dmcgb.data.digests import hash_file
from dmcgb.data.download import Unreachable, file_lock, partial_path
from dmcgb.data.download import download as download_file
from dmcgb.data.manifest import ASSETS, GROUPS, Asset, resolve
from dmcgb.errors import ChecksumError, MissingData, OfflineError

__all__ = [
    "ensure",
    "verified",
    "fetch_command_for",
    "fetch",
    "load_colors",
    "places365_dir",
    "davis_dir",
    "Status",
    "status",
    "verify",
    "describe_mirror",
]

COLOR_MODES = ("color_easy", "color_hard")
PLACES365_SPLITS = ("val", "train")


def _asset(name: str) -> Asset:
    if name not in ASSETS:
        resolve([name])  # raises the "did you mean" error; groups are not assets
        raise ValueError(
            f"{name!r} is a group of assets; pass one asset name, e.g. {GROUPS[name][0]!r}"
        )
    return ASSETS[name]


def _group_of(asset: Asset) -> str:
    """The smallest group holding ``asset``, for the fetch command in error messages."""
    for group, names in GROUPS.items():
        if group != "all" and asset.name in names:
            return group
    return asset.name  # pragma: no cover - every asset is in a group


def _is_present(asset: Asset, path: Path) -> bool:
    """A regular file of the expected size (a cheap stat; hashes are checked by ``verify``)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return False
    return stat.S_ISREG(info.st_mode) and (asset.size is None or info.st_size == asset.size)


def ensure(
    name: str,
    *,
    progress: bool = True,
    mirror: str | None = None,
    root: Path | None = None,
    session: requests.Session | None = None,
    download: bool = True,
) -> Path:
    """The path of a cached asset, fetched first if it is missing.

    Args:
        name: an asset name (``"video_hard/video3.mp4"``, ``"color_easy.pt"``,
            ``"places365-val"``); see ``ASSETS``.
        progress: show a progress bar while downloading.
        mirror: a mirror base URL; default ``$DMCGB_MIRROR``, else upstream.
        root: the data dir; default ``data_dir()``.
        session: a ``requests`` session to reuse between files.
        download: False to never download (as with ``DMCGB_OFFLINE=1``): a missing asset
            raises OfflineError.

    Returns:
        The cached file; for an archive (Places365), the folder of its extracted content.

    Raises:
        OfflineError: the asset is missing and ``DMCGB_OFFLINE`` is set or the host is
            unreachable; the message gives the fetch command.
        MissingData: the asset is missing and the data dir is not writable.
        DownloadError, ChecksumError, UnsafeArchive: the fetch failed (see ``download``).
        ValueError: unknown asset name.
    """
    asset = _asset(name)
    root = Path(root) if root is not None else data_dir()
    # Why downloads are off, or None when they are allowed.
    offline = "DMCGB_OFFLINE is set" if is_offline() else None
    if not download:
        offline = "the caller does not allow downloads"
    if asset.is_archive:
        return _ensure_extracted(asset, root, mirror, progress, session, offline)
    path = cached_path(asset, root)
    if not _is_present(asset, path):
        if offline:
            raise _offline_error(asset, root, offline)
        _fetch_file(asset, root, mirror, progress, session)
    return path


def fetch_command_for(name: str) -> str:
    """The shell command that fetches the group holding asset ``name``, for error messages."""
    return fetch_command(_group_of(_asset(name)))


# Files whose checksum this process has checked: path -> (size, mtime) when it was checked.
_checked: dict[Path, tuple[int, int]] = {}
_checked_lock = threading.Lock()


def verified(name: str, *, root: Path | None = None) -> Path:
    """``ensure(name)``, and the first time this process uses the file, check its checksum.

    Hashing a benchmark file takes milliseconds, far less than decoding it, so every file is
    checked once per process before it is read (again if it changes on disk), against the
    digest the manifest pins (a sha256, md5 or git blob id; see ``Asset``).

    Raises:
        ChecksumError: the file is not the pinned one; the message names the file and the
            fetch command.
        The errors of ``ensure``.
    """
    asset = _asset(name)
    path = ensure(name, root=root)
    info = path.stat()
    stamp = (info.st_size, info.st_mtime_ns)
    with _checked_lock:
        if _checked.get(path) == stamp:
            return path
        actual = hash_file(path, asset.algorithm)
        if actual != asset.digest:
            raise ChecksumError(
                f"{path}: {asset.algorithm} mismatch: expected {asset.digest}, actual "
                f"{actual}; the file is damaged or not the benchmark's: delete it and run "
                f"`{fetch_command(_group_of(asset))}`"
            )
        _checked[path] = stamp
    return path


def _how_to_fetch(asset: Asset) -> str:
    return (
        f"run `{fetch_command(_group_of(asset))}` on a machine with internet (add `--mirror URL`, "
        "or set DMCGB_MIRROR, to fetch from a mirror), or point DMCGB_DATA_DIR at a folder that "
        "holds it"
    )


def _offline_error(asset: Asset, root: Path, why: str) -> OfflineError:
    return OfflineError(f"{asset.name} is not in {root} and {why}; {_how_to_fetch(asset)}")


@contextlib.contextmanager
def _locked_for_writing(path: Path, asset: Asset, root: Path):
    """Create ``path``'s folder and hold its lock, or say the data dir is not writable."""
    # Locks live in one hidden folder so that the cache's folders hold only data.
    lock = root / ".locks" / (path.relative_to(root).as_posix().replace("/", "--") + ".lock")
    with contextlib.ExitStack() as stack:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            stack.enter_context(file_lock(lock))
        except OSError as exc:
            raise MissingData(
                f"{asset.name} is not in {root}, and the folder is not writable ({exc}); "
                "set DMCGB_DATA_DIR to a writable folder"
            ) from exc
        yield


def _fetch_file(asset, root, mirror, progress, session) -> bool:
    """Download one asset into the cache; False if another process did it meanwhile."""
    path = cached_path(asset, root)
    url = asset_url(asset, mirror)
    with _locked_for_writing(path, asset, root):
        if _is_present(asset, path):
            return False  # another worker fetched it while we waited for the lock
        try:
            download_file(
                url, path, digest=asset.digest, algorithm=asset.algorithm,
                progress=progress, session=session,
            )  # fmt: skip
        except Unreachable as exc:
            kept = partial_path(path)
            note = f" (the partial file {kept} is kept for resuming)" if kept.exists() else ""
            raise OfflineError(
                f"{asset.name} is missing and {exc}{note}; {_how_to_fetch(asset)}"
            ) from exc
    return True


def _ensure_extracted(asset, root, mirror, progress, session, offline) -> Path:
    dest = root / asset.extract_dir
    content = dest / asset.content_dir
    if is_extracted(dest):
        return content
    archive = cached_path(asset, root)
    if offline and not _is_present(asset, archive):
        raise _offline_error(asset, root, offline)
    with _locked_for_writing(dest, asset, root):
        if is_extracted(dest):
            return content  # another worker extracted it while we waited for the lock
        if _is_present(asset, archive):
            # A file we did not just verify (placed by hand, or left by an earlier run).
            actual = hash_file(archive, asset.algorithm)
            if actual != asset.digest:
                raise ChecksumError(
                    f"{archive}: {asset.algorithm} mismatch: expected {asset.digest}, actual "
                    f"{actual}; delete it and run `{fetch_command(_group_of(asset))}`"
                )
        else:
            _fetch_file(asset, root, mirror, progress, session)
        record = {"algorithm": asset.algorithm, "digest": asset.digest}
        extract(archive, dest, record=record, require=asset.content_dir)
        archive.unlink()  # the extracted folder is the cache; save the space
    return content


def fetch(
    names: Iterable[str],
    *,
    mirror: str | None = None,
    progress: bool = True,
    root: Path | None = None,
) -> list[Path]:
    """Fetch assets or groups (``"all"``, ``"video_hard"``, ``"places365-val"``, ...).

    Args:
        names: group or asset names; see ``GROUPS`` and ``ASSETS``.
        mirror: a mirror base URL; default ``$DMCGB_MIRROR``, else upstream.
        progress: show a progress bar per file.
        root: the data dir; default ``data_dir()``.

    Returns:
        The cached path of each asset, in order (already cached ones are not downloaded).

    Raises:
        The errors of ``ensure``, at the first asset that fails.
    """
    with requests.Session() as session:
        return [
            ensure(name, progress=progress, mirror=mirror, root=root, session=session)
            for name in resolve(names)
        ]


def load_colors(mode: str, *, root: Path | None = None) -> list[dict[str, np.ndarray]]:
    """The benchmark's 100 colour settings of a colour mode, fetched on first use.

    The file's sha256 is checked before it is first parsed in a process (see ``verified``),
    and it is parsed without running code (see ``dmcgb.data.colors``).

    Args:
        mode: ``"color_easy"`` or ``"color_hard"``.
        root: the data dir; default ``data_dir()``.

    Returns:
        100 dicts with keys ``grid_rgb1``, ``grid_rgb2``, ``self_rgb``, ``skybox_rgb``, each a
        float64 RGB array of shape (3,) in [0, 1].

    Raises:
        ValueError: unknown mode.
        ChecksumError: the cached file is not the benchmark's.
        The errors of ``ensure``.
    """
    if mode not in COLOR_MODES:
        raise ValueError(f"expected a colour mode in {list(COLOR_MODES)}, actual value: {mode!r}")
    return parse_colors(verified(f"{mode}.pt", root=root))


def places365_dir(split: str = "val", *, root: Path | None = None, download: bool = True) -> Path:
    """The folder of extracted Places365 images (256x256), fetched and extracted on first use.

    Args:
        split: ``"val"`` (val_256.tar, 36,500 images, flat) or ``"train"``
            (train_256_places365standard.tar, 1.8 M images in class folders, about 24 GB).
        root: the data dir; default ``data_dir()``.
        download: False to only use what is cached (OfflineError if it is not).

    Returns:
        ``<data_dir>/places365/<split>/val_256`` or ``.../train/data_256``.
    """
    if split not in PLACES365_SPLITS:
        raise ValueError(
            f"expected a Places365 split in {list(PLACES365_SPLITS)}, actual value: {split!r}"
        )
    return ensure(f"places365-{split}", root=root, download=download)


def davis_dir(*, root: Path | None = None, download: bool = True) -> Path:
    """The extracted DAVIS 2017 trainval 480p folder, fetched and extracted on first use.

    The archive (about 794 MiB) is checked against its sha256 before it is extracted; see
    ``datasets/davis.md`` for the source of that hash and the dataset's terms.

    Args:
        root: the data dir; default ``data_dir()``.
        download: False to only use what is cached (OfflineError if it is not).

    Returns:
        ``<data_dir>/davis/trainval-480p/DAVIS``, which holds ``JPEGImages/480p/<video>/00000.jpg ...``.
    """
    return ensure("davis", root=root, download=download)


@dataclass(frozen=True)
class Status:
    """What the cache holds of one asset.

    Attributes:
        name: the asset name.
        state: ``"cached"``, ``"extracted"``, ``"partial"`` or ``"missing"``.
        path: the cached file (or extracted folder), or where it would go.
        size: bytes on disk (file, or partial file), else None.
    """

    name: str
    state: str
    path: Path
    size: int | None = None


def status(names: Iterable[str] | None = None, *, root: Path | None = None) -> list[Status]:
    """What the cache holds of each asset (default: every asset); reads only, hashes nothing."""
    root = Path(root) if root is not None else data_dir()
    result = []
    for name in resolve(names) if names is not None else list(ASSETS):
        asset = ASSETS[name]
        path = cached_path(asset, root)
        part = partial_path(path)
        if asset.is_archive and is_extracted(root / asset.extract_dir):
            result.append(Status(name, "extracted", root / asset.extract_dir / asset.content_dir))
        elif _is_present(asset, path):
            result.append(Status(name, "cached", path, path.stat().st_size))
        elif part.is_file():
            result.append(Status(name, "partial", part, part.stat().st_size))
        else:
            result.append(Status(name, "missing", path))
    return result


def verify(
    names: Iterable[str] | None = None, *, root: Path | None = None
) -> list[tuple[str, str, str]]:
    """Re-hash cached assets against the manifest.

    Args:
        names: groups or assets to check; default every asset that is cached.
        root: the data dir; default ``data_dir()``.

    Returns:
        ``(name, verdict, detail)`` per cached asset, verdict ``"ok"`` or ``"bad"``. Missing
        assets are left out.
    """
    root = Path(root) if root is not None else data_dir()
    report = []
    for entry in status(names, root=root):
        asset = ASSETS[entry.name]
        if entry.state == "extracted":
            recorded = read_marker(root / asset.extract_dir).get("digest")
            verdict = "ok" if recorded == asset.digest else "bad"
            report.append(
                (
                    entry.name,
                    verdict,
                    f"extracted from an archive with {asset.algorithm} {recorded}",
                )
            )
        elif entry.state == "cached":
            report.append((entry.name, *_verify_file(asset, entry.path)))
        elif entry.state == "missing" and entry.path.exists():
            size = entry.path.stat().st_size
            report.append((entry.name, "bad", f"{size} bytes, expected {asset.size}"))
    return report


def _verify_file(asset: Asset, path: Path) -> tuple[str, str]:
    actual = hash_file(path, asset.algorithm)
    if actual != asset.digest:
        return "bad", f"{asset.algorithm} expected {asset.digest}, actual {actual}"
    return "ok", f"{asset.algorithm} {actual}"


def describe_mirror(mirror: str | None = None) -> str:
    """Where downloads come from, in words, for the CLI."""
    base = mirror_url(mirror)
    return f"mirror {base}" if base else "upstream hosts"
