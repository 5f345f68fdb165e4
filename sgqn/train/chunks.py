"""The replay buffer's files: numbered ``.npz`` chunks, and their check before a run resumes.

Each save of the buffer (``sgqn.train.replay``) writes what was added since the previous save
as ``replay/chunk_<first transition>_<end transition>_<end frame>.npz`` (12 digits each),
holding the transitions ``[t0, t1)`` and the frames ``[f0, f1)`` written in that period:

    t_range, f_range   (2,) int64     [t0, t1], [f0, f1]
    frames             (f1 - f0, 3, H, W) uint8
    action             (t1 - t0, action_dim) float32
    reward, not_done   (t1 - t0, 1) float32
    newest, start      (t1 - t0,) int64   frame ids of the newest obs frame and the episode start

A resumed buffer needs every transition from the oldest one it still used (``first_valid`` of
the checkpoint's cursor) to the cursor, with their frames: a chain of chunks, each starting
where the one before ends. :func:`resume_chain` finds that chain from the files' names and
array headers (no data is read) and names the first missing, damaged or inconsistent file;
:func:`read_chunk` reads one whole, checking its CRCs.
"""

from __future__ import annotations

import os
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sgqn.files import atomic_path, writing
from sgqn.train.checkpoint import CheckpointError

__all__ = [
    "Chunk",
    "ReplayError",
    "chunk_name",
    "list_chunks",
    "resume_chain",
    "read_chunk",
    "write_chunk",
    "cut_chunk",
]

_NAME = re.compile(r"chunk_(\d{12})_(\d{12})_(\d{12})\.npz")
_ARRAYS = ("t_range", "f_range", "frames", "action", "reward", "not_done", "newest", "start")
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, ValueError, KeyError, EOFError, OSError)
_FIX = "restore replay/ from a backup, or start a new run in another --run-dir"


class ReplayError(CheckpointError):
    """The replay buffer's files cannot restore the checkpoint's buffer; names the file."""


@dataclass(frozen=True)
class Chunk:
    """One chunk file: transitions [t0, t1), frames up to f1 (f0 is inside the file)."""

    path: Path
    t0: int
    t1: int
    f1: int


def chunk_name(t0: int, t1: int, f1: int) -> str:
    return f"chunk_{t0:012d}_{t1:012d}_{f1:012d}.npz"


def list_chunks(folder: Path) -> list[Chunk]:
    """The chunk files of ``folder``, oldest first (other files are ignored)."""
    found = []
    for path in folder.glob("chunk_*.npz"):
        match = _NAME.fullmatch(path.name)
        if match:
            found.append(Chunk(path, int(match[1]), int(match[2]), int(match[3])))
    return sorted(found, key=lambda c: (c.t0, c.t1, c.f1))


def _headers(chunk: Chunk) -> tuple[dict[str, tuple[tuple[int, ...], np.dtype]], int]:
    """Each array's (shape, dtype) from its .npy header, and f0; reads no bulk data."""
    shapes = {}
    with zipfile.ZipFile(chunk.path) as archive:
        for key in _ARRAYS:
            with archive.open(f"{key}.npy") as member:
                version = np.lib.format.read_magic(member)
                read = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, _, dtype = read(member)
                shapes[key] = (tuple(shape), dtype)
        with archive.open("f_range.npy") as member:
            f_range = np.lib.format.read_array(member)
    return shapes, int(f_range[0])


def _inconsistency(
    chunk: Chunk,
    shapes: dict[str, tuple[tuple[int, ...], np.dtype]],
    f0: int,
    frame_shape: tuple[int, ...],
    action_dim: int,
) -> str | None:
    """What in a chunk's arrays contradicts its name and the run's shapes, or None."""
    n, nf = chunk.t1 - chunk.t0, chunk.f1 - f0
    expected = {
        "frames": ((nf, *frame_shape), np.uint8),
        "action": ((n, action_dim), np.float32),
        "reward": ((n, 1), np.float32),
        "not_done": ((n, 1), np.float32),
        "newest": ((n,), np.int64),
        "start": ((n,), np.int64),
    }
    if nf < 0:
        return f"its frames start at {f0}, after their end {chunk.f1}"
    for key, (shape, dtype) in expected.items():
        found_shape, found_dtype = shapes[key]
        if found_shape != shape or found_dtype != np.dtype(dtype):
            return (
                f"its {key} is {found_dtype}{list(found_shape)}, expected "
                f"{np.dtype(dtype)}{list(shape)} (from its name and the run's shapes)"
            )
    return None


def resume_chain(
    folder: Path,
    cursor: dict[str, int],
    capacity: int,
    frame_shape: tuple[int, ...],
    action_dim: int,
) -> tuple[list[tuple[Chunk, int]], int]:
    """The chunks a buffer resuming at ``cursor`` loads, checked from names and headers.

    Args:
        folder: the run's ``replay/`` folder.
        cursor: the checkpoint's replay state (``num_added``, ``num_frames``, and from this
            version on ``first_valid``, the oldest transition the buffer still used).
        capacity: transitions the resumed buffer keeps.
        frame_shape: (3, H, W) of a frame.
        action_dim: size of an action.

    Returns:
        ``[(chunk, f0), ...]`` oldest first, each starting where the previous ends, the last
        one reaching the cursor (it may go beyond: a save interrupted before its checkpoint);
        and the oldest transition the buffer needs.

    Raises:
        ReplayError: a chunk missing, unreadable, or holding other arrays than its name says.
    """
    num_added, num_frames = int(cursor["num_added"]), int(cursor["num_frames"])
    if num_added == 0:
        return [], 0
    chunks = [c for c in list_chunks(folder) if c.t0 < num_added]
    shown = str(folder)
    if not chunks or chunks[-1].t1 < num_added:
        end = chunks[-1].t1 if chunks else 0
        raise ReplayError(
            f"the replay buffer in {shown!r} is incomplete: the checkpoint records {num_added} "
            f"transitions, the chunks end at {end} (no chunk_{end:012d}_*.npz); {_FIX}"
        )
    if chunks[-1].f1 < num_frames:
        raise ReplayError(
            f"{str(chunks[-1].path)!r} ends at frame {chunks[-1].f1} but the checkpoint records "
            f"{num_frames} frames: the chunk is from another save; {_FIX}"
        )
    chain: list[tuple[Chunk, int]] = []
    by_end = {}
    for chunk in chunks[:-1]:
        by_end.setdefault(chunk.t1, chunk)
    chunk: Chunk | None = chunks[-1]
    legacy = "first_valid" not in cursor
    needed = int(cursor.get("first_valid", max(0, num_added - capacity)))
    while chunk is not None:
        try:
            shapes, f0 = _headers(chunk)
        except _READ_ERRORS as error:
            raise ReplayError(_damaged(chunk.path, error)) from None
        problem = _inconsistency(chunk, shapes, f0, frame_shape, action_dim)
        if problem:
            raise ReplayError(f"{str(chunk.path)!r} does not fit the run: {problem}; {_FIX}")
        if chain and chunk.f1 != chain[0][1]:
            raise ReplayError(
                f"{str(chunk.path)!r} ends at frame {chunk.f1} but the next chunk starts at frame "
                f"{chain[0][1]}: the chunks are from different runs or saves; {_FIX}"
            )
        chain.insert(0, (chunk, f0))
        if chunk.t0 <= needed:
            return chain, needed
        previous = by_end.get(chunk.t0)
        if previous is None and legacy and num_added > capacity:
            # A cursor written before first_valid was recorded: chunks before a wrapped ring
            # may have been pruned, so the chain's start is the buffer's start.
            return chain, chunk.t0
        if previous is None:
            start = max((c.t1 for c in chunks if c.t1 < chunk.t0), default=0)
            raise ReplayError(
                f"the replay buffer in {shown!r} is incomplete: transitions {start} to "
                f"{chunk.t0} are missing (no chunk_{start:012d}_*.npz before "
                f"{chunk.path.name}); {_FIX}"
            )
        chunk = previous
    raise AssertionError("unreachable")


def read_chunk(path: Path) -> dict[str, np.ndarray]:
    """Every array of a chunk, read whole (zip CRCs checked).

    Raises:
        ReplayError: the file cannot be read.
    """
    try:
        with np.load(path) as chunk:
            return {key: chunk[key] for key in _ARRAYS}
    except _READ_ERRORS as error:
        raise ReplayError(_damaged(path, error)) from None


def write_chunk(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write a chunk atomically and durably (fsync before it replaces anything)."""
    with writing(path), atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())


def cut_chunk(a: dict[str, np.ndarray], num_added: int, num_frames: int) -> dict[str, np.ndarray]:
    """A chunk's arrays without what was added after the cursor (num_added, num_frames)."""
    t0, f0 = int(a["t_range"][0]), int(a["f_range"][0])
    nt, nf = num_added - t0, num_frames - f0
    cut = {k: v[:nt] for k, v in a.items() if k not in ("frames", "t_range", "f_range")}
    return {
        **cut,
        "frames": a["frames"][:nf],
        "t_range": np.array([t0, num_added]),
        "f_range": np.array([f0, num_frames]),
    }


def _damaged(path: Path, error: BaseException) -> str:
    lines = str(error).splitlines()
    reason = f"{type(error).__name__}: {lines[0] if lines else 'no details'}"
    return f"replay chunk {str(path)!r} is damaged and cannot be read ({reason}); {_FIX}"
