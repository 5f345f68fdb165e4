"""Atomic file writes: a run directory never holds a half-written file."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dmcgb.atomic import atomic_path

__all__ = ["atomic_path", "write_csv", "write_json"]


def write_csv(path: Path, rows: Sequence[dict[str, Any]], fields: Sequence[str]) -> None:
    """Write ``rows`` under a header of ``fields``, atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, list(fields))
    writer.writeheader()
    writer.writerows(rows)
    with atomic_path(path) as tmp:
        tmp.write_text(buffer.getvalue())


def write_json(path: Path, data: dict[str, Any], **dumps: Any) -> Path:
    """Write ``data`` as JSON (``json.dumps`` options ``dumps``), atomically; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, **dumps) + "\n")
    return path
