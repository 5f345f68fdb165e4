"""Content digests of files: any ``hashlib`` algorithm, and git's blob id.

A git blob id is the SHA-1 of ``b"blob <size in decimal>\\0"`` followed by the file's bytes:
the id ``git hash-object FILE`` prints, and the one a commit's tree lists for the file
(``git ls-tree -r COMMIT``). A repository pinned at a commit therefore publishes a content
hash of every file it holds, size included, even where nobody published a sha256.

Contents:
    GIT_BLOB: the algorithm name of a git blob id.
    hash_file: the hex digest of a file.
    streaming_hasher: a hasher a download feeds chunk by chunk, where the algorithm allows.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["GIT_BLOB", "hash_file", "streaming_hasher"]

GIT_BLOB = "git-blob"
"""Algorithm name of a git blob id (SHA-1 of ``b"blob <size>\\0" + content``)."""

_CHUNK = 1 << 20  # bytes per disk read


def _git_blob_header(size: int) -> bytes:
    return b"blob %d\0" % size


def hash_file(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in chunks.

    Args:
        path: the file.
        algorithm: a ``hashlib`` name (``"sha256"``, ``"md5"``) or ``GIT_BLOB``.

    Returns:
        The lower-case hex digest; for ``GIT_BLOB``, what ``git hash-object path`` prints.
    """
    with open(path, "rb") as file:
        if algorithm == GIT_BLOB:
            hasher = hashlib.sha1(_git_blob_header(os.fstat(file.fileno()).st_size))
        else:
            hasher = hashlib.new(algorithm)
        for chunk in iter(lambda: file.read(_CHUNK), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def streaming_hasher(algorithm: str) -> hashlib._Hash | None:
    """A ``hashlib`` hasher to feed a file's bytes as they arrive, or None for ``GIT_BLOB``.

    A git blob id starts with the file's size, which a download knows only at its end: such a
    file is hashed with ``hash_file`` once it is complete.
    """
    return None if algorithm == GIT_BLOB else hashlib.new(algorithm)
