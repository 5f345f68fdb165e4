"""A run before its training loop: the config, device and directory it gets, and its data.

:func:`prepare` runs before any env, network or data is set up, so that a bad flag, env id,
mode or ``--run-dir`` fails in a second with a message, not after minutes of set-up.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Collection
from pathlib import Path
from typing import Any

import torch

from dmcgb.protocol.envs import make_env
from dmcgb.protocol.modes import check_modes, data_groups, eval_env_ids
from dmcgb.protocol.results import FINAL_NAME
from sgqn.config import Config, ConfigError
from sgqn.folder_lock import LOCK_NAME
from sgqn.presets import resolve
from sgqn.train.checkpoint import (
    CHECKPOINT_NAME,
    check_resumable,
    config_from_dict,
    load_checkpoint,
)
from sgqn.train.resume import check_identity, check_replay, resumed_config
from sgqn.validation import check_device, check_settings, flag_name, training_env_id

__all__ = [
    "prepare",
    "check_compiler",
    "default_threads",
    "check_env_ids",
    "check_pixels",
    "fetch_eval_data",
    "forget_after",
    "default_run_dir",
    "check_run_dir",
]


def default_threads() -> int:
    """torch threads for a CPU run: the cores minus one (rendering needs one), at least 1."""
    return max(1, (os.cpu_count() or 1) - 1)


def prepare(
    cfg: Config, given: Collection[str] | None = None
) -> tuple[Config, torch.device, Path, dict[str, Any] | None]:
    """Resolve the config, the device and the run dir (and for --resume, load the checkpoint).

    Nothing is created or set up: this fails in a second on a bad flag or run directory. With
    ``cfg.resume``, everything :mod:`sgqn.train.resume` checks is checked here: the checkpoint
    belongs to the run, the flags given may change, the replay buffer is whole; changes the
    flags make are printed.

    Args:
        cfg: the config as given.
        given: with ``cfg.resume``, the fields the user set (see
            :func:`sgqn.train.resume.resumed_config`).

    Raises:
        ConfigError: a bad flag value or run directory, or a flag --resume may not change.
        dmcgb.errors.UnknownTask: an unknown env id (with the closest ids).
        CheckpointError: --resume with a damaged, unsafe or foreign checkpoint, or a replay
            buffer with chunks missing or damaged.
    """
    if not cfg.resume:
        cfg = dataclasses.replace(cfg, env=training_env_id(cfg.env))
        check_settings(cfg)
        device = check_device(cfg.device)
        check_compiler(cfg.compile, device)
        check_env_ids(cfg)
        cfg = resolve(cfg, preset="paper" if device.type == "cuda" else "cpu-demo")
        run_dir = Path(cfg.run_dir) if cfg.run_dir else default_run_dir(cfg)
        check_run_dir(run_dir, resume=False)
        return dataclasses.replace(cfg, run_dir=str(run_dir)), device, run_dir, None
    if not cfg.run_dir:
        raise ConfigError("--resume needs --run-dir DIR, the run to continue")
    run_dir = Path(cfg.run_dir)
    check_run_dir(run_dir, resume=True)
    checkpoint = load_checkpoint(run_dir / CHECKPOINT_NAME)
    check_resumable(run_dir / CHECKPOINT_NAME, checkpoint)
    check_identity(run_dir, checkpoint)
    saved = config_from_dict(checkpoint["config"])
    merged, changes = resumed_config(saved, cfg, given, int(checkpoint["step"]))
    resumed = resolve(dataclasses.replace(merged, resume=True, run_dir=str(run_dir)))
    device = check_device(resumed.device)
    check_compiler(resumed.compile, device)
    check_replay(run_dir, checkpoint, resumed)
    if changes:
        listed = ", ".join(f"{flag_name(k)} {old} -> {new}" for k, (old, new) in changes.items())
        print(f"sgqn.train: --resume changes {listed}", flush=True)
    return resumed, device, run_dir, checkpoint


def check_compiler(requested: bool, device: torch.device) -> None:
    """--compile on a CPU needs the C++ compiler inductor builds its kernels with."""
    if not requested or device.type != "cpu":
        return
    from torch._inductor.cpp_builder import get_cpp_compiler

    try:
        get_cpp_compiler()
    except Exception:  # inductor's InvalidCxxCompiler, or its search failing otherwise
        raise ConfigError(
            "--compile on a CPU needs a C++ compiler for torch's inductor and none was found: "
            "install g++ (or set CXX), or train without --compile"
        ) from None


def check_env_ids(cfg: Config) -> None:
    """Fail at once on an unknown env id or mode (the registries only: nothing is built)."""
    import gymnasium as gym

    import dmcgb  # noqa: F401  (registers the ids)

    if cfg.env.startswith("dmcgb/"):
        from dmcgb.registration import parse_env_id

        parse_env_id(cfg.env)  # UnknownTask: "... did you mean ...?"
    else:
        gym.spec(cfg.env)  # gymnasium's own error with suggestions
    check_modes(cfg.env, cfg.eval_modes or (), flag="--eval-modes")


def check_pixels(env_id: str, image_size: int) -> None:
    """A non-dmcgb env must observe RGB frames (made once, with the GL backend chosen)."""
    if env_id.startswith("dmcgb/"):
        return
    try:
        make_env(env_id, 0, 1, 1, image_size).close()
    except ValueError as error:
        raise ConfigError(
            f"--env: {error}. sgqn learns from pixels: use a dmcgb/... id, e.g. "
            "dmcgb/WalkerWalk-train-v0, or an env whose observations are RGB frames"
        ) from None


def fetch_eval_data(cfg: Config, optional: bool, say) -> Config:
    """Fetch the data of the eval modes now (not at the first evaluation).

    With ``optional`` (the cpu-demo's own choice of modes), a mode whose data cannot be had
    offline is dropped with a message saying how to get it; otherwise the error propagates.
    """
    from dmcgb import data
    from dmcgb.errors import MissingData

    kept = []
    for mode, env_id in eval_env_ids(cfg.env, cfg.eval_modes).items():
        groups = data_groups(env_id)
        missing = [s for s in data.status(groups) if s.state != "cached"]
        if missing:
            size = sum(data.ASSETS[s.name].size or 0 for s in missing) / 1e6
            say(
                f"fetching the {mode} data ({', '.join(groups)}: {len(missing)} files, "
                f"{size:.0f} MB) into {data.data_dir()} (set DMCGB_DATA_DIR to use another "
                "cache, DMCGB_MIRROR to fetch from a mirror)"
            )
            try:
                data.fetch(groups)
            except MissingData as error:
                if not optional:
                    raise
                say(
                    f"skipping the {mode} evaluation: its data is not available ({error}). Fetch "
                    f"it with `python -m dmcgb.data fetch {' '.join(groups)}` and start a new run "
                    "to evaluate it."
                )
                continue
        kept.append(mode)
    if tuple(kept) == cfg.eval_modes:
        return cfg
    skipped = [m for m in cfg.eval_modes if m not in kept]
    extra = {**cfg.extra, "skipped_eval_modes": " ".join(skipped)}
    return dataclasses.replace(cfg, eval_modes=tuple(kept), extra=extra)


def forget_after(run_dir: Path, step: int, total: int) -> None:
    """On resume: drop results written after the checkpoint (they are redone), and
    ``results.json`` if the run is extended (it is no longer finished)."""
    for path in (run_dir / "evals").glob("step*.json"):
        if int(path.stem[4:]) > step:
            path.unlink()
    if total > step:
        (run_dir / FINAL_NAME).unlink(missing_ok=True)


def default_run_dir(cfg: Config) -> Path:
    """``runs/<task>-<algo>-s<seed>-<timestamp>``."""
    name = cfg.env.split("/")[-1]
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{name}-{cfg.algo}-s{cfg.seed}-{stamp}"


def check_run_dir(run_dir: Path, resume: bool) -> None:
    """Check that ``run_dir`` can take a new run (or, with ``resume``, holds one).

    Nothing is created. A new run needs a directory that does not exist yet (in a writable
    parent) or is empty (but for a lock, ``sgqn.folder_lock``); resuming needs the run's
    checkpoint.

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
        contents = sorted(p.name for p in run_dir.iterdir() if p.name != LOCK_NAME)
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
