"""Train SG-SAC or a baseline on a dmcgb env: ``python -m sgqn.train --env ... --algo sgqn``.

The protocol is the paper's (and the authors' code's): frame stack 3, action repeat 4,
``init_steps`` agent steps of uniform random actions, then at step ``init_steps`` that many
updates at once and one update per agent step after; evaluation on ``eval_modes`` every
``eval_freq`` agent steps. Units: ``--steps`` counts agent steps, ``--frames`` control steps
(frames = steps * action_repeat); results record both.

A run directory holds ``config.json`` (config, preset, differences from the paper, versions,
git revision), ``metrics.csv`` (one row per training episode), ``evals/step*.json`` (every
evaluation, per episode; ``eval.csv`` is their table), ``checkpoint.pt`` with the replay
buffer's chunks in ``replay/``, ``saliency/*.png``, optional ``videos/``, and, written after
the final checkpoint, ``results.json``: a run that has it is finished.

Runs lose nothing: Ctrl-C or SIGTERM saves a checkpoint and exits (status 130 / 143);
``--resume`` continues exactly where the run stopped (mid-episode: the episode is replayed
from its seed and actions), redoes an evaluation the stop interrupted, and a larger
``--steps`` extends a run. A run has one owner (``DIR/.lock``, ``sgqn.folder_lock``); what
``--resume`` continues is checked first (``sgqn.train.resume``); a write that fails names the
file, the checkpoint that is intact and the command that continues. What the command refuses
(:func:`refusals`) is one line and exit status 2, and changes nothing on disk.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Collection
from pathlib import Path

import torch

from dmcgb.protocol.results import RECORD_NAME, is_finished
from sgqn.config import TASK_DEFAULTS, Config, ConfigError
from sgqn.files import WriteError, write_json
from sgqn.folder_lock import FolderLock
from sgqn.presets import PRESET_FIELDS, PRESETS, preset_value
from sgqn.train.checkpoint import CHECKPOINT_NAME, CheckpointError, load_checkpoint
from sgqn.train.loop import Trainer
from sgqn.train.prepare import (
    check_pixels,
    check_run_dir,
    default_threads,
    fetch_eval_data,
    forget_after,
    prepare,
)
from sgqn.train.record import announce, protocol_record, record_resume, run_record
from sgqn.train.resume import check_weights_fit, given_fields
from sgqn.train.stopping import Stopped, exit_code

__all__ = ["main", "cli", "parse_args", "refusals", "RunWriteError", "PROG"]

PROG = "python -m sgqn.train"


def main(
    cfg: Config,
    progress: bool = True,
    eval_workers: int | None = None,
    given: Collection[str] | None = None,
) -> Path:
    """Train (or, with ``cfg.resume``, continue) a run; return its run directory.

    The process owns the run directory while it runs (``sgqn.folder_lock``): a second process
    is refused. A command refused before training starts leaves the disk as it was.

    Args:
        cfg: the run's configuration (see :class:`sgqn.config.Config`); fields left at None
            take the preset's values.
        progress: show progress bars.
        eval_workers: evaluation processes per mode; default the spare cores (1 on a
            2-core machine: evaluation in this process).
        given: with ``cfg.resume``, the fields the user set (``sgqn.train.resume.given_fields``
            of the command line); default: those that differ from the Config's defaults.

    Raises:
        ConfigError: bad flag values or run directory, or a flag --resume may not change.
        sgqn.folder_lock.FolderInUse: another process owns the run directory.
        CheckpointError: --resume from a damaged, unsafe or foreign checkpoint, or with
            replay chunks missing or damaged.
        dmcgb.errors.UnknownTask: an unknown env id or mode.
        dmcgb.errors.MissingData: a test distribution's data is not available.
        sgqn.train.replay.InsufficientMemory: the replay buffer does not fit on the device.
        RunWriteError: a checkpoint, replay chunk or results file could not be written.
        sgqn.train.stopping.Stopped: SIGINT/SIGTERM stopped the run; a checkpoint was saved.
    """
    if cfg.dry_run:  # nothing is locked, created or downloaded
        cfg, device, run_dir, _ = prepare(cfg, given)
        record = {**protocol_record(cfg), "device": str(device), "run_dir": str(run_dir)}
        print(json.dumps(record, indent=2, default=str))
        return run_dir
    lock = _lock_existing_dir(cfg)
    created: list[Path] = []
    run_dir = Path(cfg.run_dir) if cfg.run_dir else None
    started = False
    try:
        modes_from_preset = cfg.eval_modes is None and not cfg.resume
        cfg, device, run_dir, checkpoint = prepare(cfg, given)
        if lock is None:
            lock, created = _lock_new_run(run_dir)
        start = 0 if checkpoint is None else int(checkpoint["step"])
        if checkpoint is not None and start >= cfg.total_steps() and is_finished(run_dir):
            print(f"sgqn.train: {run_dir} is finished ({start} steps); --steps extends it")
            return run_dir
        from dmcgb.rendering import ensure_gl_backend

        ensure_gl_backend()  # before anything imports mujoco's renderer
        check_pixels(cfg.env, cfg.render_size)
        if checkpoint is None:
            optional = cfg.preset == "cpu-demo" and modes_from_preset
            cfg = fetch_eval_data(cfg, optional, lambda m: print(f"sgqn.train: {m}", flush=True))
        else:
            forget_after(run_dir, start, cfg.total_steps())
        previous_threads = torch.get_num_threads()
        if device.type == "cpu":
            torch.set_num_threads(cfg.threads or default_threads())
        announce(cfg, device, run_dir, None if checkpoint is None else start)
        started = True
        try:
            trainer = Trainer(
                cfg, device, run_dir, start_step=start, progress=progress, eval_workers=eval_workers
            )
            try:
                if checkpoint is None:
                    record = run_record(
                        trainer.cfg,
                        str(device),
                        torch.get_num_threads(),
                        trainer.action_space.shape,
                    )
                else:
                    check_weights_fit(trainer.agent, checkpoint["agent"])
                    trainer.restore(checkpoint)
                    record = record_resume(run_dir, trainer.cfg, start)
                write_json(run_dir / RECORD_NAME, record, indent=2, default=str)
                with trainer.stop:
                    try:
                        trainer.train()
                    except Stopped as stopped:
                        trainer.save()
                        trainer.logger.print(
                            f"sgqn.train: {stopped} at step {trainer.step}; checkpoint saved. "
                            f"Continue with: {PROG} --resume --run-dir {run_dir}",
                            file=sys.stderr,
                        )
                        raise
            finally:
                trainer.close()
        finally:
            torch.set_num_threads(previous_threads)
    except WriteError as error:
        raise RunWriteError(error, run_dir) from error
    finally:
        if lock is not None:
            lock.release()
        if not started:
            _remove_if_empty(created)
    return run_dir


class RunWriteError(OSError):
    """A file of the run could not be written; the message says what is intact and how to go on.

    One line: the file and the reason, the step of the checkpoint the run can continue from,
    and the command that continues it.
    """

    def __init__(self, error: WriteError, run_dir: Path | None) -> None:
        super().__init__(error.errno, error.strerror)
        self.message = f"{error}; {_what_is_intact(run_dir)}"

    def __str__(self) -> str:
        return self.message


def _what_is_intact(run_dir: Path | None) -> str:
    if run_dir is None or not (run_dir / CHECKPOINT_NAME).is_file():
        where = f"delete {run_dir} and " if run_dir is not None else ""
        return f"no checkpoint was written yet: free space (or fix the cause), {where}start again"
    try:
        step = int(load_checkpoint(run_dir / CHECKPOINT_NAME)["step"])
    except (CheckpointError, OSError) as error:
        return f"the previous checkpoint cannot be read either ({error})"
    return (
        f"the previous checkpoint (step {step}) is intact: free space (or fix the cause), then "
        f"continue with: {PROG} --resume --run-dir {run_dir}"
    )


def _lock_existing_dir(cfg: Config) -> FolderLock | None:
    """Own an existing --run-dir before reading it, so that a run in use is refused naming its
    owner (None: no directory yet, or one this user cannot write; prepare() says what to do)."""
    if not cfg.run_dir:
        return None
    run_dir = Path(cfg.run_dir)
    if not run_dir.is_dir() or not os.access(run_dir, os.W_OK | os.X_OK):
        return None
    return _acquire(run_dir)


def _lock_new_run(run_dir: Path) -> tuple[FolderLock, list[Path]]:
    """Create the new run's directory and own it; check again that it is free to use."""
    created = [p for p in (run_dir, *run_dir.parents) if not p.exists()]
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        lock = _acquire(run_dir)
    except BaseException:
        _remove_if_empty(created)
        raise
    try:
        check_run_dir(run_dir, resume=False)  # another process may have written it meanwhile
    except BaseException:
        lock.release()
        _remove_if_empty(created)
        raise
    return lock, created


def _acquire(run_dir: Path) -> FolderLock:
    lock = FolderLock(run_dir, what=f"--run-dir {str(run_dir)!r}").acquire()
    if lock.note:
        print(f"sgqn.train: {lock.note}", file=sys.stderr, flush=True)
    return lock


def _remove_if_empty(folders: list[Path]) -> None:
    """Remove the folders a refused command created (deepest first), if still empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def _help_hints() -> dict[str, str]:
    """``(paper: X; cpu-demo: Y)`` for the preset fields, instead of ``(default: None)``."""
    hints = {}
    for name in PRESET_FIELDS:
        values = []
        for preset in PRESETS:
            value = preset_value(preset, name, Config.env)  # a DMC task's value
            if isinstance(value, tuple):
                value = " ".join(value)
            values.append(f"{preset}: {value}")
        hints[name] = f"(default from --preset: {'; '.join(values)})"
    for name in ("run_dir", "device", "threads", "frames", "replay_capacity", "saliency_quantile",
                 *TASK_DEFAULTS):  # fmt: skip
        hints[name] = "(default: see above)"
    return hints


GROUP_TITLES = {
    "run": "What to train, where to write it, on which device",
    "environment": "Observations and actions",
    "schedule": "Run length, evaluation, checkpoints and figures (in agent steps)",
    "SAC": "Soft actor-critic (the paper's Table 3)",
    "networks": "Encoder and heads (the paper's Table 3)",
    "augmentation": "Data augmentation",
    "SVEA and SODA": "SVEA and SODA (DMControl-GB defaults)",
    "SGQN": "Saliency-guided Q-networks: consistency and self-supervision",
    "speed": "Speed",
}


def parse_args(argv: list[str] | None = None) -> Config:
    """The :class:`Config` of a ``python -m sgqn.train`` command line."""
    from sgqn.train.flags import parse

    return parse(
        Config,
        argv,
        prog=PROG,
        description=__doc__.split("\n\n")[0],
        titles=GROUP_TITLES,
        hints=_help_hints(),
        exclude=("extra",),
    )


def cli(argv: list[str] | None = None) -> None:
    """``python -m sgqn.train``: parse a Config from the command line and train."""
    argv = sys.argv[1:] if argv is None else argv
    cfg = parse_args(argv)
    try:
        main(cfg, given=given_fields(argv))
    except Stopped as stopped:
        raise SystemExit(exit_code(stopped.signum)) from None
    except KeyboardInterrupt:
        print(
            "sgqn.train: aborted without saving; --resume continues from the last checkpoint",
            file=sys.stderr,
        )
        raise SystemExit(130) from None
    except refusals() as error:
        print(f"sgqn.train: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def refusals() -> tuple[type[BaseException], ...]:
    """What ``sgqn.train`` answers with one line and exit status 2, not a traceback: bad flags,
    a run directory in use or unusable, a bad checkpoint or replay buffer, missing data, too
    little memory, a file that could not be written. ``sgqn.sweep`` does not retry these."""
    from dmcgb.errors import DMCGBError
    from dmcgb.protocol.results import ResultsError
    from sgqn.train.replay import InsufficientMemory

    return (
        ConfigError,
        CheckpointError,
        ResultsError,
        DMCGBError,
        InsufficientMemory,
        FileNotFoundError,
        RunWriteError,
    )
