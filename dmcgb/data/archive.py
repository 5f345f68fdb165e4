"""Safe, atomic extraction of tar and zip archives.

Every member is checked before anything is written: a member whose path is absolute or
climbs out with ``..``, a link that points outside the destination, or a device file makes
the whole archive refused with UnsafeArchive. For tar files, Python's ``data`` extraction
filter runs as a second guard (it also catches tricks through links extracted earlier); zip
members that are symbolic links are refused outright (``zipfile`` would write them as plain
files, which is not what the archive meant). The archive is extracted into a temporary
folder beside the destination, a marker file is written last, and the folder is renamed
into place: a destination folder with its marker is complete.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
import zipfile
from pathlib import Path

from dmcgb.errors import DownloadError, UnsafeArchive

__all__ = ["MARKER", "is_extracted", "read_marker", "check_member", "check_zip_member", "extract"]

MARKER = ".dmcgb-extracted"


def is_extracted(dest: Path) -> bool:
    """Whether ``dest`` holds a completed extraction."""
    return (dest / MARKER).is_file()


def read_marker(dest: Path) -> dict:
    """The record written when ``dest`` was extracted (archive name, digest, member count)."""
    return json.loads((dest / MARKER).read_text())


def _escapes(path: str) -> bool:
    """Whether a relative POSIX path climbs above its root."""
    normal = posixpath.normpath(path)
    return normal == ".." or normal.startswith("../")


def _is_absolute(path: str) -> bool:
    # Windows drive letters and backslash roots count too: the archive may come from anywhere.
    return path.startswith(("/", "\\")) or (len(path) > 1 and path[1] == ":")


def check_member(member: tarfile.TarInfo, archive: Path | str) -> None:
    """Refuse a member that would be written, or would point, outside the destination.

    Raises:
        UnsafeArchive: naming the archive, the member and why it is refused.
    """
    name = member.name
    reason = None
    if _is_absolute(name):
        reason = "has an absolute path"
    elif _escapes(name):
        reason = "climbs out of the destination with '..'"
    elif member.issym():
        target = member.linkname
        if _is_absolute(target) or _escapes(posixpath.join(posixpath.dirname(name), target)):
            reason = f"is a symlink to {target!r}, outside the destination"
    elif member.islnk():
        # Hard link targets are paths from the archive root.
        if _is_absolute(member.linkname) or _escapes(member.linkname):
            reason = f"is a hard link to {member.linkname!r}, outside the destination"
    elif member.isdev():
        reason = "is a device or fifo"
    if reason:
        raise UnsafeArchive(
            f"{archive}: member {name!r} {reason}; refusing to extract this archive. "
            "Delete it and fetch it again from a trusted source"
        )


def check_zip_member(member: zipfile.ZipInfo, archive: Path | str) -> None:
    """Refuse a zip member that would be written outside the destination, or is a link.

    Raises:
        UnsafeArchive: naming the archive, the member and why it is refused.
    """
    name = member.filename
    kind = stat.S_IFMT(member.external_attr >> 16)  # Unix file type; 0 if none was recorded
    reason = None
    if _is_absolute(name):
        reason = "has an absolute path"
    elif _escapes(name.replace("\\", "/")):
        reason = "climbs out of the destination with '..'"
    elif kind == stat.S_IFLNK:
        reason = "is a symbolic link"
    elif kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        reason = "is a device, fifo or socket"
    if reason:
        raise UnsafeArchive(
            f"{archive}: member {name!r} {reason}; refusing to extract this archive. "
            "Delete it and fetch it again from a trusted source"
        )


def extract(
    archive: Path, dest: Path, *, record: dict | None = None, require: str | None = None
) -> Path:
    """Extract a tar or zip archive into ``dest`` safely and atomically.

    Args:
        archive: the tar file (compressed or not) or zip file.
        dest: the folder to create; it must not exist unless it holds a completed extraction.
        record: extra facts (e.g. the archive's digest) to store in the completion marker.
        require: a folder the archive must create (its expected top-level folder).

    Returns:
        ``dest``.

    Raises:
        UnsafeArchive: a member escapes ``dest``; nothing is left behind.
        DownloadError: the archive is not a readable tar or zip file, lacks the ``require`` folder,
            or ``dest`` exists and is not a completed extraction.
    """
    if is_extracted(dest):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".extracting", dir=dest.parent))
    try:
        count = _extract_checked(archive, staging)
        if require is not None and not (staging / require).is_dir():
            raise DownloadError(
                f"{archive}: expected the archive to hold the folder {require!r}; it holds "
                f"{sorted(p.name for p in staging.iterdir())}. Delete it and fetch it again"
            )
        marker = {"archive": archive.name, "members": count, **(record or {})}
        (staging / MARKER).write_text(json.dumps(marker, indent=1) + "\n")
        try:
            os.rename(staging, dest)
        except OSError as exc:
            if not is_extracted(dest):
                raise DownloadError(
                    f"{dest} exists but is not a completed extraction of {archive.name}; "
                    "move it away and fetch again"
                ) from exc
            shutil.rmtree(staging)  # another process finished first
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return dest


def _extract_checked(archive: Path, staging: Path) -> int:
    if zipfile.is_zipfile(archive):
        return _extract_zip_checked(archive, staging)
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for member in members:
                check_member(member, archive)
            if hasattr(tarfile, "data_filter"):
                try:
                    tar.extractall(staging, members=members, filter="data")
                except tarfile.FilterError as exc:
                    raise UnsafeArchive(f"{archive}: refusing to extract: {exc}") from exc
            else:  # pragma: no cover - Python < 3.10.12 has no filters; the checks above stand
                tar.extractall(staging, members=members)
    except tarfile.ReadError as exc:
        raise DownloadError(
            f"{archive}: not a readable tar archive ({exc}); delete it and fetch again"
        ) from exc
    return len(members)


def _extract_zip_checked(archive: Path, staging: Path) -> int:
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = zipped.infolist()
            for member in members:
                check_zip_member(member, archive)
            for member in members:
                zipped.extract(member, staging)
    except (zipfile.BadZipFile, EOFError) as exc:
        raise DownloadError(
            f"{archive}: not a readable zip archive ({exc}); delete it and fetch again"
        ) from exc
    return len(members)
