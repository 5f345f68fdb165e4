"""Atomic file writes: a run directory never holds a half-written file, and a write that fails
(disk full, quota, permissions, I/O) is one :class:`WriteError` naming the file."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from dmcgb.atomic import atomic_path

__all__ = ["atomic_path", "write_csv", "write_json", "writing", "WriteError"]


class WriteError(OSError):
    """A file could not be written; ``path`` names it, ``errno`` and ``strerror`` say why.

    An ``OSError`` itself, so code that handles those handles this one.
    """

    def __init__(self, path: str | Path, error: OSError) -> None:
        super().__init__(error.errno, error.strerror or str(error))
        self.path = Path(path)

    def __str__(self) -> str:
        return f"cannot write {str(self.path)!r}: {self.strerror}"


def _os_error_in(error: BaseException) -> OSError | None:
    """The OSError an exception wraps (torch.save raises RuntimeError over its file's)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, OSError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


@contextlib.contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Turn an OSError raised while writing ``path`` into a :class:`WriteError` naming it.

    torch.save reports its file's OSError inside a RuntimeError ("[enforce fail at
    inline_container.cc] ... file write failed"); that one is unwrapped too.
    """
    try:
        yield
    except WriteError:
        raise
    except (OSError, RuntimeError) as error:
        cause = _os_error_in(error)
        if cause is None:
            raise
        raise WriteError(path, cause) from error


def write_csv(path: Path, rows: Sequence[dict[str, Any]], fields: Sequence[str]) -> None:
    """Write ``rows`` under a header of ``fields``, atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, list(fields))
    writer.writeheader()
    writer.writerows(rows)
    with writing(path), atomic_path(path) as tmp:
        tmp.write_text(buffer.getvalue())


def write_json(path: Path, data: dict[str, Any], **dumps: Any) -> Path:
    """Write ``data`` as JSON (``json.dumps`` options ``dumps``), atomically; returns ``path``."""
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(data, **dumps) + "\n")
    return path
