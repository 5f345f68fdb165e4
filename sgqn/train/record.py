"""A run's record, ``config.json``, and what a run prints about its protocol at start.

``config.json`` holds the resolved config, the preset and every value that differs from the
paper's, the observation and action shapes, the device and thread count, package versions,
the git revision, the command line and the start time; a resumed run appends to its
``resumed`` list (when, the command line, and the settings it changed).
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from dmcgb.protocol.results import RECORD_NAME
from sgqn.config import Config
from sgqn.presets import paper_differences
from sgqn.train.checkpoint import config_to_dict

__all__ = ["announce", "protocol_record", "run_record", "record_resume"]

_REPO = Path(__file__).resolve().parents[2]


def announce(cfg: Config, device: torch.device, run_dir: Path, resumed_at: int | None) -> None:
    """Print where the run goes and every value that differs from the paper's protocol."""
    threads = torch.get_num_threads()
    what = f"resuming at step {resumed_at}" if resumed_at is not None else "new run"
    print(
        f"sgqn.train: {what} in {run_dir} | {cfg.env} {cfg.algo} seed {cfg.seed} | device "
        f"{device} | {threads} torch thread{'s' * (threads > 1)} | preset {cfg.preset}",
        flush=True,
    )
    differences = paper_differences(cfg)
    if differences:
        listed = ", ".join(f"{k} {v!r} (paper {p!r})" for k, (v, p) in differences.items())
        print(f"sgqn.train: differs from the paper's protocol: {listed}", flush=True)
    else:
        print("sgqn.train: the paper's protocol (no value differs)", flush=True)
    if cfg.extra.get("skipped_eval_modes"):
        print(f"sgqn.train: not evaluated (no data): {cfg.extra['skipped_eval_modes']}", flush=True)


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


def protocol_record(cfg: Config) -> dict[str, Any]:
    """The protocol part of ``config.json``: the config, the preset, what differs from the paper."""
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


def run_record(
    cfg: Config, device: str, threads: int, action_shape: Sequence[int]
) -> dict[str, Any]:
    """The ``config.json`` of a new run (what ``--resume`` checks a checkpoint against)."""
    return {
        **protocol_record(cfg),
        "obs_shape": list(cfg.obs_shape),
        "action_shape": [int(n) for n in action_shape],
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
    protocol = protocol_record(cfg)
    before = record.get("config", {})
    changed = {
        k: [before[k], v]
        for k, v in protocol["config"].items()
        if k in before and before[k] != v and k not in ("resume", "run_dir")
    }
    entry = {"at_step": step, "time": _now(), "command": sys.argv, "changed": changed}
    record.setdefault("resumed", []).append(entry)
    record.update(protocol)
    return record
