"""Atomic checkpoints of a run that load without running code.

A checkpoint is one ``torch.save`` file written to a temporary name and moved into place with
``os.replace``, so an interrupted save leaves the previous checkpoint intact. It holds only
tensors and plain values (numbers, strings, bools, None, and lists/tuples/dicts of them): the
agent's ``state_dict()``, the config as a dict, the RNG states, and the training loop's
counters. It is read with ``torch.load(weights_only=True)``, so a crafted file cannot execute
code; anything else in it is rejected with :class:`CheckpointError`. The replay buffer saves
itself in chunks (``sgqn.train.replay``, plain ``.npz``); the checkpoint records its cursor.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import random
import typing
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sgqn.config import Config, ConfigError
from sgqn.files import atomic_path, writing
from sgqn.validation import check_settings, type_problem

__all__ = [
    "CHECKPOINT_NAME",
    "CheckpointError",
    "save_checkpoint",
    "load_checkpoint",
    "check_resumable",
    "config_to_dict",
    "config_from_dict",
    "rng_state",
    "set_rng_state",
]

CHECKPOINT_NAME = "checkpoint.pt"
_FORMAT = 2  # 2: weights-only payload (1 pickled numpy RNG states)
_PLAIN = (bool, int, float, str, type(None))


class CheckpointError(ValueError):
    """A checkpoint that cannot be (safely) loaded; the message names the file and the fix."""


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """A JSON-ready dict of every Config field."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}


def config_from_dict(values: dict[str, Any]) -> Config:
    """Rebuild a Config from :func:`config_to_dict` output (unknown keys are ignored).

    Raises:
        ConfigError: a value whose type is not its field's (naming the field and the value).
    """
    hints = typing.get_type_hints(Config)
    kwargs = {}
    for f in dataclasses.fields(Config):
        if f.name not in values:
            continue
        value = values[f.name]
        problem = type_problem(value, hints[f.name])
        if problem:
            raise ConfigError(f"config.{f.name}: {problem}, actual value: {value!r}")
        if isinstance(value, list):
            value = tuple(value)  # tuple fields, e.g. eval_modes
        kwargs[f.name] = value
    return Config(**kwargs)


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch (CPU and CUDA) RNG states, as tensors and plain values."""
    np_state = np.random.get_state(legacy=False)
    np_state["state"]["key"] = torch.from_numpy(np_state["state"]["key"].astype(np.int64))
    state = {"python": random.getstate(), "numpy": np_state, "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore :func:`rng_state` output."""
    python = state["python"]
    random.setstate((python[0], tuple(python[1]), python[2]))
    np_state = dict(state["numpy"])
    np_state["state"] = dict(np_state["state"])
    np_state["state"]["key"] = np.asarray(np_state["state"]["key"], dtype=np.uint32)
    np.random.set_state(np_state)
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def _unsafe_value(value: Any, where: str) -> str | None:
    """The path of the first value a weights-only load would reject, or None."""
    if isinstance(value, (torch.Tensor, *_PLAIN)):
        return None
    if isinstance(value, (list, tuple)):
        items = enumerate(value)
    elif isinstance(value, dict):
        items = value.items()
    else:
        return f"{where} ({type(value).__name__})"
    for key, item in items:
        if isinstance(value, dict) and not isinstance(key, _PLAIN):
            return f"{where} key {key!r} ({type(key).__name__})"
        found = _unsafe_value(item, f"{where}[{key!r}]")
        if found:
            return found
    return None


def save_checkpoint(
    path: str | Path,
    *,
    agent: Any,
    cfg: Config,
    step: int,
    action_shape: Sequence[int],
    **state: Any,
) -> Path:
    """Write a checkpoint atomically.

    Args:
        path: the checkpoint file.
        agent: anything with ``state_dict()`` (the agent: networks and optimisers).
        cfg: the run's config, so that eval can rebuild the agent.
        step: the agent step the checkpoint was taken at.
        action_shape: the env's action shape, so that eval can rebuild the agent.
        **state: counters, cursors and loop state: tensors and plain values only.

    Returns:
        The path written.

    Raises:
        TypeError: something in the payload would not load with ``weights_only=True``.
        sgqn.files.WriteError: the file could not be written (disk full, ...); the previous
            checkpoint is intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": _FORMAT,
        "agent": agent.state_dict(),
        "config": config_to_dict(cfg),
        "rng": rng_state(),
        "step": int(step),
        "action_shape": [int(n) for n in action_shape],
        **state,
    }
    unsafe = _unsafe_value(payload, "checkpoint")
    if unsafe:
        raise TypeError(
            f"cannot checkpoint {unsafe}: a checkpoint holds only tensors, numbers, strings, "
            "bools, None and lists/tuples/dicts of them, so that it loads with weights_only=True"
        )
    with writing(path), atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(payload, f)
        f.flush()
        os.fsync(f.fileno())
    return path


def load_checkpoint(path: str | Path, map_location: torch.device | str = "cpu") -> dict[str, Any]:
    """Read a checkpoint without running code; ``payload['config']`` is a dict.

    Raises:
        FileNotFoundError: no checkpoint at ``path``.
        CheckpointError: the file is damaged, holds objects other than tensors and plain
            values (a crafted or foreign file), or was written by another checkpoint format.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint at {str(path)!r}; a run directory holds {CHECKPOINT_NAME} once "
            "training has saved (every --save-freq steps, on Ctrl-C/SIGTERM, and at the end)"
        )
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        # torch raises UnpicklingError for whatever its weights-only unpickler refuses: an
        # object it will not build (a class, a function: code), or bytes that are no pickle.
        # The globals the file imports tell which, by torch's API rather than its wording.
        imports = _imported_globals(path)
        if not imports:
            raise CheckpointError(_damaged(path, error)) from None
        shown = ", ".join(imports[:3]) + (", ..." if len(imports) > 3 else "")
        raise CheckpointError(
            f"{str(path)!r} holds objects other than tensors and plain values (it imports "
            f"{shown}), so it was not loaded: loading it could run code. sgqn never writes "
            "such checkpoints: it was crafted, or written by another program or an older "
            "sgqn. Start a new run, or resume from a checkpoint you made"
        ) from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as error:
        raise CheckpointError(_damaged(path, error)) from None
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(
            f"{str(path)!r} is not an sgqn checkpoint of format {_FORMAT} (found {found!r}); "
            "it was written by another version of sgqn or another program"
        )
    _check_fields(path, payload, _FIELDS)
    try:
        config = config_from_dict(payload["config"])
        check_settings(config, local=False)
    except ConfigError as error:
        raise CheckpointError(_invalid(path, f"its {error}")) from None
    return payload


def check_resumable(path: str | Path, payload: dict[str, Any]) -> None:
    """Check that a loaded checkpoint holds the loop state a resumed run needs.

    :func:`load_checkpoint` checks what evaluation needs (the agent, its config, the step);
    training continues from more.

    Raises:
        CheckpointError: a field missing or of the wrong type, naming it.
    """
    _check_fields(Path(path), payload, _LOOP_FIELDS)


def _imported_globals(path: Path) -> list[str]:
    """The classes and functions a torch.save file imports (none for damaged bytes)."""
    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except (pickle.UnpicklingError, RuntimeError, ValueError, EOFError, OSError):
        return []


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _dict_of(key_ok, value_ok):
    return lambda v: isinstance(v, dict) and all(key_ok(k) and value_ok(x) for k, x in v.items())


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_tensor(value: Any) -> bool:
    return isinstance(value, torch.Tensor)


def _open_episode(value: Any) -> bool:
    if value is None:
        return True
    return (
        isinstance(value, dict)
        and _is_tensor(value.get("actions"))
        and _is_tensor(value.get("obs"))
        and isinstance(value.get("return"), (int, float))
    )


def _replay_cursor(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and _count(value.get("num_added"))
        and _count(value.get("num_frames"))
        and isinstance(value.get("episode_start", -1), int)
        and value.get("episode_start", -1) >= -1
    )


# The schema of format 2: field -> (check, what it must be). Evaluation needs _FIELDS; a
# resumed run needs _LOOP_FIELDS too.
_FIELDS: dict[str, tuple[Any, str]] = {
    "agent": (_dict_of(_is_str, lambda x: True), "the agent's state dict"),
    "config": (_dict_of(_is_str, lambda x: True), "a dict of settings"),
    "step": (_count, "an integer >= 0"),
    "action_shape": (
        lambda v: (
            isinstance(v, (list, tuple)) and len(v) > 0 and all(_count(x) and x > 0 for x in v)
        ),
        "a list of sizes >= 1",
    ),
}
_LOOP_FIELDS: dict[str, tuple[Any, str]] = {
    "episode": (_count, "an integer >= 0"),
    "updates": (_count, "an integer >= 0"),
    "replay": (_replay_cursor, "a replay cursor {num_added, num_frames, episode_start}"),
    "rng": (lambda v: isinstance(v, dict) and {"python", "numpy", "torch"} <= set(v), "RNG states"),
    "explore_rng": (lambda v: isinstance(v, dict), "a numpy bit generator state"),
    "pending_action": (lambda v: v is None or _is_tensor(v), "a tensor or None"),
    "open_episode": (_open_episode, "None or {actions, return, obs}"),
    "metric_sums": (_dict_of(_is_str, _is_tensor), "a dict of tensors"),
    "metric_counts": (_dict_of(_is_str, _count), "a dict of counts"),
}


def _check_fields(path: Path, payload: dict[str, Any], fields: dict[str, tuple[Any, str]]) -> None:
    for name, (ok, expected) in fields.items():
        if name not in payload:
            raise CheckpointError(_invalid(path, f"it has no {name!r} (expected {expected})"))
        if not ok(payload[name]):
            found = _shown(payload[name])
            raise CheckpointError(_invalid(path, f"its {name!r} must be {expected}, found {found}"))


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{text[:60]}... ({type(value).__name__})" if len(text) > 60 else text


def _invalid(path: Path, what: str) -> str:
    return (
        f"{str(path)!r} is not a valid sgqn checkpoint: {what}; it was edited or written by "
        "another program: restore it from a backup, or start a new run in another --run-dir"
    )


def _damaged(path: Path, error: BaseException) -> str:
    if isinstance(error, pickle.UnpicklingError):
        reason = "its content is not a saved payload"
    else:
        lines = str(error).splitlines()
        reason = f"{type(error).__name__}: {lines[0] if lines else 'no details'}"
    return (
        f"{str(path)!r} is damaged and cannot be read ({reason}); the run cannot resume from "
        "it: restore it from a backup, or start a new run in another --run-dir"
    )
