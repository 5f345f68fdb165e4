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
``--steps`` extends a run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from dmcgb.protocol.results import RECORD_NAME, is_finished
from sgqn.config import TASK_DEFAULTS, Config, ConfigError
from sgqn.files import write_json
from sgqn.presets import PRESET_FIELDS, PRESETS, preset_value
from sgqn.train.checkpoint import CheckpointError
from sgqn.train.loop import Trainer
from sgqn.train.prepare import (
    check_pixels,
    default_threads,
    fetch_eval_data,
    forget_after,
    prepare,
)
from sgqn.train.record import announce, protocol_record, record_resume, run_record
from sgqn.train.stopping import Stopped, exit_code

__all__ = ["main", "cli", "parse_args", "PROG"]

PROG = "python -m sgqn.train"


def main(cfg: Config, progress: bool = True, eval_workers: int | None = None) -> Path:
    """Train (or, with ``cfg.resume``, continue) a run; return its run directory.

    Args:
        cfg: the run's configuration (see :class:`sgqn.config.Config`); fields left at None
            take the preset's values.
        progress: show progress bars.
        eval_workers: evaluation processes per mode; default the spare cores (1 on a
            2-core machine: evaluation in this process).

    Raises:
        ConfigError: bad flag values or run directory.
        CheckpointError: --resume from a damaged or unsafe checkpoint.
        dmcgb.errors.UnknownTask: an unknown env id or mode.
        dmcgb.errors.MissingData: a test distribution's data is not available.
        sgqn.train.replay.InsufficientMemory: the replay buffer does not fit on the device.
        sgqn.train.stopping.Stopped: SIGINT/SIGTERM stopped the run; a checkpoint was saved.
    """
    modes_from_preset = cfg.eval_modes is None and not cfg.resume
    cfg, device, run_dir, checkpoint = prepare(cfg)
    if cfg.dry_run:
        record = {**protocol_record(cfg), "device": str(device), "run_dir": str(run_dir)}
        print(json.dumps(record, indent=2, default=str))
        return run_dir
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
    try:
        trainer = Trainer(
            cfg, device, run_dir, start_step=start, progress=progress, eval_workers=eval_workers
        )
        try:
            if checkpoint is None:
                record = run_record(trainer.cfg, str(device), torch.get_num_threads())
            else:
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
    return run_dir


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
    from dmcgb.errors import DMCGBError
    from dmcgb.protocol.results import ResultsError
    from sgqn.train.replay import InsufficientMemory

    cfg = parse_args(argv)
    try:
        main(cfg)
    except Stopped as stopped:
        raise SystemExit(exit_code(stopped.signum)) from None
    except KeyboardInterrupt:
        print(
            "sgqn.train: aborted without saving; --resume continues from the last checkpoint",
            file=sys.stderr,
        )
        raise SystemExit(130) from None
    except (
        ConfigError,
        CheckpointError,
        ResultsError,
        DMCGBError,
        InsufficientMemory,
        FileNotFoundError,
    ) as error:
        print(f"sgqn.train: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
