"""Training: ``python -m sgqn.train``, from the checks before set-up to the final results.

Contents:
    command     ``python -m sgqn.train``: ``main(cfg)`` and the command line (``cli``).
    flags       the command line of a flat config dataclass, with ``--help`` in groups.
    prepare     the checks before any set-up: config, device, run directory, env ids, data.
    record      the run's record (``config.json``) and what it prints about its protocol.
    loop        ``Trainer``: the training loop (env steps, updates, evaluations, checkpoints).
    resume      what --resume checks before set-up: the checkpoint's run, the flags, the replay.
    replay      the replay buffer (each frame stored once) and its chunked saving.
    chunks      the replay buffer's files, and their check before a run resumes.
    overlay     the natural images of the overlay augmentations (Places365, folders, textures).
    checkpoint  atomic checkpoints that load without running code.
    stopping    Ctrl-C and SIGTERM as a graceful stop.
    logger      metrics.csv, eval.csv, TensorBoard and the progress bars.
"""

from sgqn.train.command import cli, main, parse_args
from sgqn.train.loop import Trainer

__all__ = ["Trainer", "cli", "main", "parse_args"]
