"""A run directory: where it is, whether it can be used, and its record (``config.json``).

Everything here runs before any env, network or data is set up, so that a bad ``--run-dir``
fails in a second with a message, not after minutes of set-up.

``config.json`` holds the resolved config, the preset and every value that differs from the
paper's, the device and thread count, package versions, the git revision, the command line
and the start time; a resumed run appends to its ``resumed`` list.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from sgqn.checkpoint import CHECKPOINT_NAME, config_to_dict
from sgqn.config import Config, ConfigError, paper_differences
from sgqn.files import atomic_path

__all__ = [
    "RECORD_NAME",
    "default_run_dir",
    "check_run_dir",
    "run_record",
    "record_resume",
    "write_json",
]

RECORD_NAME = "config.json"
_REPO = Path(__file__).resolve().parents[1]


def default_run_dir(cfg: Config) -> Path:
    """``runs/<task>-<algo>-s<seed>-<timestamp>``."""
    name = cfg.env.split("/")[-1]
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{name}-{cfg.algo}-s{cfg.seed}-{stamp}"


def check_run_dir(run_dir: Path, resume: bool) -> None:
    """Check that ``run_dir`` can take a new run (or, with ``resume``, holds one).

    Nothing is created. A new run needs a directory that does not exist yet (in a writable
    parent) or is empty; resuming needs the run's checkpoint.

    Raises:
        ConfigError: the directory is a file, holds something else, is not writable, or
            (resume) holds no checkpoint; the message says what to do instead.
    """
    shown = str(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"--run-dir {shown!r} is a file, not a directory; pass another --run-dir")
    if resume:
        if not (run_dir / CHECKPOINT_NAME).is_file():
            what = "does not exist" if not run_dir.exists() else f"holds no {CHECKPOINT_NAME}"
            raise ConfigError(
                f"cannot --resume {shown!r}: it {what}; pass the directory of a run that saved a "
                "checkpoint, or drop --resume to start a new run"
            )
        _check_writable(run_dir)
        return
    if run_dir.is_dir():
        contents = sorted(p.name for p in run_dir.iterdir())
        if (run_dir / CHECKPOINT_NAME).is_file():
            raise ConfigError(
                f"--run-dir {shown!r} already holds a run; pass --resume to continue it, or "
                "another --run-dir for a new run"
            )
        if contents:
            listed = ", ".join(contents[:5]) + (", ..." if len(contents) > 5 else "")
            raise ConfigError(
                f"--run-dir {shown!r} is not empty ({listed}) and holds no checkpoint to resume; "
                "pass a new or empty --run-dir (or delete what is there)"
            )
        _check_writable(run_dir)
        return
    parent = run_dir.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(
            f"--run-dir {shown!r} cannot be created: {str(parent)!r} is a file, not a directory; "
            "pass another --run-dir"
        )
    _check_writable(parent, creating=shown)


def _check_writable(folder: Path, creating: str | None = None) -> None:
    if os.access(folder, os.W_OK | os.X_OK):
        return
    what = f"cannot create --run-dir {creating!r}: " if creating else "--run-dir "
    raise ConfigError(
        f"{what}{str(folder)!r} is not writable by this user; pass a --run-dir you can write to"
    )


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")


def _git_revision() -> dict[str, Any]:
    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", "-C", str(_REPO), *args], capture_output=True, text=True, timeout=10
        )
        return result.stdout.strip() if result.returncode == 0 else ""

    try:
        revision = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.TimeoutExpired):
        revision, dirty = "", False
    return {"git_revision": revision or "unknown", "git_dirty": dirty}


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("dmcgb-sgqn", "torch", "numpy", "gymnasium", "mujoco", "dm_control", "tyro"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    import sgqn

    versions["sgqn"] = sgqn.__version__
    return versions


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _protocol(cfg: Config) -> dict[str, Any]:
    total = cfg.total_steps()
    differences = {
        name: {"value": value, "paper": paper}
        for name, (value, paper) in paper_differences(cfg).items()
    }
    return {
        "config": config_to_dict(cfg),
        "preset": cfg.preset,
        "differs_from_paper": differences,
        "total_steps": total,
        "total_frames": total * cfg.action_repeat,
    }


def run_record(cfg: Config, device: str, threads: int) -> dict[str, Any]:
    """The ``config.json`` of a new run."""
    return {
        **_protocol(cfg),
        "device": device,
        "torch_threads": threads,
        "versions": _versions(),
        **_git_revision(),
        "command": sys.argv,
        "started": _now(),
    }


def record_resume(run_dir: Path, cfg: Config, step: int) -> dict[str, Any]:
    """``config.json`` of a resumed run: the original record, the new length, when it resumed."""
    path = run_dir / RECORD_NAME
    record = json.loads(path.read_text()) if path.exists() else {}
    record.setdefault("resumed", []).append({"at_step": step, "time": _now(), "command": sys.argv})
    record.update(_protocol(cfg))
    return record
