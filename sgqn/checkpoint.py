"""Atomic checkpoints of a run: agent (networks and optimisers), config, counters, RNG states.

A checkpoint is one ``torch.save`` file written to a temporary name and moved into place with
``os.replace``, so an interrupted save leaves the previous checkpoint intact. The replay
buffer saves itself in chunks (``sgqn.replay``); the checkpoint records its cursor.
"""

from __future__ import annotations

import dataclasses
import os
import random
import typing
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sgqn.config import Config
from sgqn.files import atomic_path

__all__ = [
    "CHECKPOINT_NAME",
    "save_checkpoint",
    "load_checkpoint",
    "config_to_dict",
    "config_from_dict",
    "rng_state",
    "set_rng_state",
]

CHECKPOINT_NAME = "checkpoint.pt"
_FORMAT = 1


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """A JSON-ready dict of every Config field."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}


def config_from_dict(values: dict[str, Any]) -> Config:
    """Rebuild a Config from :func:`config_to_dict` output (unknown keys are ignored)."""
    hints = typing.get_type_hints(Config)
    kwargs = {}
    for f in dataclasses.fields(Config):
        if f.name not in values:
            continue
        value = values[f.name]
        if typing.get_origin(hints[f.name]) is tuple and value is not None:
            value = tuple(value)
        kwargs[f.name] = value
    return Config(**kwargs)


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch (CPU and CUDA) RNG states."""
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore :func:`rng_state` output."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def save_checkpoint(path: str | Path, *, agent: Any, cfg: Config, **state: Any) -> Path:
    """Write a checkpoint atomically.

    Args:
        path: the checkpoint file.
        agent: anything with ``state_dict()`` (the SGSAC agent: networks and optimisers).
        cfg: the run's config, so that eval can rebuild the agent.
        **state: counters and cursors (step, episode, replay, np_random, ...).

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": _FORMAT,
        "agent": agent.state_dict(),
        "config": config_to_dict(cfg),
        "rng": rng_state(),
        **state,
    }
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(payload, f)
        f.flush()
        os.fsync(f.fileno())
    return path


def load_checkpoint(path: str | Path, map_location: torch.device | str = "cpu") -> dict[str, Any]:
    """Read a checkpoint; ``payload['config']`` is a dict (see :func:`config_from_dict`).

    Raises:
        FileNotFoundError: no checkpoint at ``path``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint at {str(path)!r}; a run directory holds {CHECKPOINT_NAME} once "
            "training has saved (every --save-freq steps and at the end)"
        )
    # weights_only=False: the payload holds RNG states (numpy arrays, tuples) written by us.
    payload = torch.load(path, map_location=map_location, weights_only=False)
    if payload.get("format") != _FORMAT:
        raise ValueError(f"{str(path)!r} is not an sgqn checkpoint (format {_FORMAT})")
    return payload
