"""Stream one URL to one file: resume, verify the hash, move into place atomically.

The file is written to ``<dest>.part`` beside the destination. A partial file left by an
interrupted download is resumed with an HTTP Range request when the server answers 206 (and
restarted from zero when it answers 200). A server that hangs up mid-file is retried a few
times, resuming each time; if it keeps hanging up, the partial file is kept for the next
call. The finished file is hashed (as it streams in, or once complete for a git blob id, see
``dmcgb.data.digests``), and only a file with the expected digest is moved into place with
``os.replace``; a mismatch deletes it.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import requests
from tqdm.auto import tqdm

from dmcgb.data.digests import hash_file, streaming_hasher
from dmcgb.errors import ChecksumError, DownloadError

try:  # POSIX only; elsewhere concurrent downloads of one file are not serialised.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["download", "file_lock", "partial_path", "Unreachable", "RETRY_DELAYS"]

CONNECT_TIMEOUT = 15.0  # s, to open the connection
READ_TIMEOUT = 60.0  # s, between two received chunks
RETRY_DELAYS = (1.0, 3.0, 10.0)  # s, waits before each retry after the server hung up
_CHUNK = 1 << 20  # bytes per disk read
_NET_CHUNK = 1 << 18  # bytes per network read (at most this is lost when a connection resets)
_RETRIED_STATUS = {408, 429, 500, 502, 503, 504}


class Unreachable(Exception):
    """The host could not be reached at all (internal signal; callers raise OfflineError)."""


class _Interrupted(Exception):
    """The transfer stopped before the end; the partial file is kept."""


def partial_path(dest: Path) -> Path:
    """The temporary file a download of ``dest`` is written to."""
    return dest.with_name(dest.name + ".part")


@contextlib.contextmanager
def file_lock(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` (created if needed).

    Parallel env workers that miss the same file then fetch it once: the others wait, and
    find it in place.
    """
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    with open(lock_path, "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def download(
    url: str,
    dest: Path,
    *,
    digest: str,
    algorithm: str = "sha256",
    progress: bool = True,
    session: requests.Session | None = None,
) -> str:
    """Download ``url`` to ``dest`` atomically, and return the file's hex digest.

    Args:
        url: the address to fetch.
        dest: the final path; its folder must exist and be writable.
        digest: the expected hex digest.
        algorithm: hash algorithm of ``digest``: a ``hashlib`` name or ``GIT_BLOB`` (see
            ``dmcgb.data.digests``).
        progress: show a tqdm progress bar on stderr.
        session: a ``requests`` session to reuse between files.

    Returns:
        The hex digest of the file now at ``dest``.

    Raises:
        Unreachable: the host refused the connection or could not be resolved.
        DownloadError: an HTTP error status, or the server kept hanging up (the partial file
            is kept and the next call resumes it).
        ChecksumError: the downloaded file does not have ``digest``; nothing is kept.
    """
    part = partial_path(dest)
    owns_session = session is None
    session = session or requests.Session()
    try:
        hasher = _download_with_retries(session, url, part, algorithm, progress, dest.name)
    finally:
        if owns_session:
            session.close()
    actual = hasher.hexdigest() if hasher is not None else hash_file(part, algorithm)
    if actual != digest.lower():
        part.unlink(missing_ok=True)
        raise ChecksumError(
            f"{dest.name}: {algorithm} mismatch: expected {digest}, actual {actual} "
            f"(downloaded from {url}); the file was deleted. Fetch it again; if this repeats, "
            "the server's copy is corrupt (try upstream instead of the mirror, or the reverse)"
        )
    os.replace(part, dest)
    return actual


def _download_with_retries(session, url, part, algorithm, progress, label):
    delays = (*RETRY_DELAYS, None)
    for attempt, delay in enumerate(delays, start=1):
        try:
            return _download_once(session, url, part, algorithm, progress, label)
        except _Interrupted as exc:
            if delay is None:
                kept = part.stat().st_size if part.exists() else 0
                raise DownloadError(
                    f"{url}: the download was interrupted {attempt} times ({exc}); the partial "
                    f"file {part} ({kept} bytes) is kept and the next fetch resumes from it"
                ) from exc
            time.sleep(delay)
    raise AssertionError("unreachable: the last delay is None")


def _download_once(session, url, part, algorithm, progress, label):
    """One HTTP request: resume ``part`` if possible, else start over.

    Returns the hasher fed with the whole file, or None where the algorithm cannot stream.
    """
    offset = part.stat().st_size if part.exists() else 0
    # identity: byte offsets in Range and Content-Length must be those of the file itself.
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = session.get(
            url, headers=headers, stream=True, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT)
        )
    except requests.ConnectionError as exc:  # refused, unresolvable, connect timeout
        raise Unreachable(f"cannot reach {url}: {exc}") from exc
    except requests.Timeout as exc:
        raise _Interrupted(f"no answer within {READ_TIMEOUT:.0f} s") from exc
    except requests.RequestException as exc:  # a malformed URL, too many redirects, ...
        raise DownloadError(f"{url}: {exc}") from exc

    with response:
        if response.status_code == 416 and offset:
            # The partial file is as long as (or longer than) the file: start over.
            part.unlink()
            raise _Interrupted("the partial file did not fit the server's file; restarting")
        if response.status_code in _RETRIED_STATUS:
            raise _Interrupted(f"HTTP {response.status_code} {response.reason}")
        if response.status_code not in (200, 206):
            raise DownloadError(
                f"{url}: HTTP {response.status_code} {response.reason}; check the URL, or the "
                "mirror's layout (<mirror>/<asset path>)"
            )
        if response.status_code == 206 and _range_start(response) != offset:
            part.unlink(missing_ok=True)
            raise _Interrupted("the server sent another range than asked; restarting")
        resumed = response.status_code == 206 and offset > 0
        if not resumed:
            offset = 0  # 200: the server ignored Range, so start over cleanly.
        hasher = streaming_hasher(algorithm)
        if resumed and hasher is not None:
            with open(part, "rb") as existing:
                for chunk in iter(lambda: existing.read(_CHUNK), b""):
                    hasher.update(chunk)
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        total = offset + expected if expected is not None else None
        received = 0
        bar = tqdm(
            total=total,
            initial=offset,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=label,
            disable=not progress,
        )
        # Let a short body end the stream instead of raising: urllib3 would drop the bytes
        # of the read in flight, and those are worth keeping for the resume.
        response.raw.enforce_content_length = False
        with bar, open(part, "ab" if resumed else "wb") as file:
            try:
                for chunk in response.iter_content(_NET_CHUNK):
                    file.write(chunk)
                    if hasher is not None:
                        hasher.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise _Interrupted(f"connection lost after {offset + received} bytes") from exc
            except requests.exceptions.ChunkedEncodingError as exc:
                raise _Interrupted(f"server hung up after {offset + received} bytes") from exc
            finally:
                file.flush()
                os.fsync(file.fileno())
        if expected is not None and received != expected:
            raise _Interrupted(f"got {received} of {expected} bytes")
    return hasher


def _range_start(response: requests.Response) -> int | None:
    """First byte of a 206 answer, from ``Content-Range: bytes START-END/TOTAL``."""
    content_range = response.headers.get("Content-Range", "")
    unit, _, spec = content_range.partition(" ")
    start = spec.split("-", 1)[0]
    return int(start) if unit == "bytes" and start.isdigit() else None
