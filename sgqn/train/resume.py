"""What ``--resume`` continues, checked before any set-up: the checkpoint belongs to the run, the
flags given with it are ones a run may change, and the replay buffer's files are whole.

- The checkpoint's identity (algo, task, seed, observation and action shapes, every setting it
  was trained with) must match the run's ``config.json``; a checkpoint copied from another run
  is refused, naming what differs.
- Flags given with ``--resume`` that differ from the run's settings: :data:`CHANGEABLE` ones
  (run length, device, threads, overlap, compile, checkpoint period, videos) are applied and
  printed; any other is refused, naming the flag and both values. A flag equal to the run's value is accepted.
- The replay chunks from the oldest transition the buffer used to the checkpoint's cursor are
  present, contiguous, of the run's shapes and readable (every byte's CRC checked).
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from dmcgb.protocol.results import RECORD_NAME
from sgqn.config import Config, ConfigError
from sgqn.train.checkpoint import CheckpointError, config_from_dict
from sgqn.train.chunks import ReplayError, resume_chain
from sgqn.validation import flag_name, training_env_id

__all__ = [
    "CHANGEABLE",
    "given_fields",
    "check_identity",
    "resumed_config",
    "check_replay",
    "check_weights_fit",
]

# Settings a resumed run may change: how long it runs, where and how fast (overlap gives
# bit-identical results; compile, like device, changes float rounding only), and how often it
# checkpoints or films; none changes what the agent learns from or how it is evaluated.
CHANGEABLE = (
    "steps",
    "frames",
    "device",
    "threads",
    "overlap",
    "compile",
    "save_freq",
    "save_video",
)
# Fields that say where the run is and how it was started, never compared.
_NOT_SETTINGS = ("run_dir", "resume", "extra", "dry_run")


def given_fields(argv: Sequence[str]) -> set[str]:
    """The Config fields a command line sets (``--batch-size 8``, ``--batch_size=8``, ``--no-amp``)."""
    names = {f.name for f in dataclasses.fields(Config)}
    given = set()
    for token in argv:
        if not token.startswith("--"):
            continue
        name = token[2:].split("=", 1)[0].replace("-", "_")
        if name not in names and name.startswith("no_"):
            name = name[3:]
        if name in names:
            given.add(name)
    return given


def _default_given(cfg: Config) -> set[str]:
    """For a Config built in code: the fields whose value is not the Config's default."""
    default = Config()
    return {
        f.name
        for f in dataclasses.fields(Config)
        if getattr(cfg, f.name) != getattr(default, f.name)
    }


def _differences(a: Config, b: Config, skip: Collection[str]) -> dict[str, tuple[Any, Any]]:
    return {
        f.name: (getattr(a, f.name), getattr(b, f.name))
        for f in dataclasses.fields(Config)
        if f.name not in skip and getattr(a, f.name) != getattr(b, f.name)
    }


def check_identity(run_dir: Path, checkpoint: dict[str, Any]) -> None:
    """The checkpoint was written by the run whose ``config.json`` is beside it.

    Raises:
        CheckpointError: no readable config.json, or a setting or shape that differs (the
            message names the first ones, with both values).
    """
    path = run_dir / RECORD_NAME
    shown = str(run_dir)
    try:
        record = json.loads(path.read_text())
        recorded = config_from_dict(record["config"])
    except FileNotFoundError:
        raise CheckpointError(
            f"cannot check that {shown}/checkpoint.pt belongs to this run: {RECORD_NAME} is "
            "missing (a run writes it when it starts); restore it, or start a new run"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CheckpointError(
            f"cannot check that {shown}/checkpoint.pt belongs to this run: {RECORD_NAME} cannot "
            f"be read ({type(error).__name__}: {error}); restore it, or start a new run"
        ) from None
    saved = config_from_dict(checkpoint["config"])
    differences = {
        name: values
        for name, values in _differences(saved, recorded, (*_NOT_SETTINGS, *CHANGEABLE)).items()
    }
    if saved.obs_shape != recorded.obs_shape:
        differences["observation shape"] = (saved.obs_shape, recorded.obs_shape)
    action_shape = list(checkpoint["action_shape"])
    if "action_shape" in record and list(record["action_shape"]) != action_shape:
        differences["action shape"] = (action_shape, list(record["action_shape"]))
    if differences:
        listed = "; ".join(f"{k}: {a!r} vs {b!r}" for k, (a, b) in list(differences.items())[:4])
        more = f" (and {len(differences) - 4} more)" if len(differences) > 4 else ""
        raise CheckpointError(
            f"{shown}/checkpoint.pt does not belong to this run: checkpoint vs {RECORD_NAME}: "
            f"{listed}{more}; put back this run's checkpoint, or resume the run it came from in "
            "its own directory"
        )


def resumed_config(
    saved: Config, asked: Config, given: Collection[str] | None, step: int
) -> tuple[Config, dict[str, tuple[Any, Any]]]:
    """The run's saved config with the changeable flags given with ``--resume`` applied.

    Args:
        saved: the checkpoint's config.
        asked: the config of the ``--resume`` command.
        given: the fields the command sets (:func:`given_fields`); None: those that differ
            from the Config's defaults (a Config built in code).
        step: the checkpoint's step (a run cannot be shortened below it).

    Returns:
        The config to continue with (not yet resolved), and ``{field: (run's value, new
        value)}`` for each change.

    Raises:
        ConfigError: a flag that differs from the run and may not change (naming each, with
            both values), or ``--steps``/``--frames`` below the checkpoint's step.
    """
    given = set(_default_given(asked) if given is None else given) - set(_NOT_SETTINGS)
    if "env" in given:
        asked = dataclasses.replace(asked, env=training_env_id(asked.env))
    refused, changes = [], {}
    for name in sorted(given, key=[f.name for f in dataclasses.fields(Config)].index):
        theirs, ours = getattr(saved, name), getattr(asked, name)
        if name in ("steps", "frames") or theirs == ours:
            continue
        if name in CHANGEABLE:
            changes[name] = (theirs, ours)
        else:
            refused.append(f"{flag_name(name)} {_shown(ours)} (the run's: {_shown(theirs)})")
    if refused:
        allowed = ", ".join(flag_name(n) for n in CHANGEABLE)
        raise ConfigError(
            f"--resume keeps the run's settings, but the command changes {'; '.join(refused)}; "
            f"drop {'it' if len(refused) == 1 else 'them'} (only {allowed} may change), or start "
            "a new run in another --run-dir"
        )
    overrides: dict[str, Any] = {name: new for name, (_, new) in changes.items()}
    if {"steps", "frames"} & given and (asked.steps is not None or asked.frames is not None):
        steps = asked.steps if asked.frames is None else asked.frames // saved.action_repeat
        if asked.steps is not None and asked.frames is not None:
            raise ConfigError("give either --steps or --frames, not both")
        if steps < step:
            raise ConfigError(
                f"--steps {steps} is below the run's step {step}: a run cannot be shortened; "
                f"pass --steps {step} or more"
            )
        if steps != saved.total_steps():
            changes["steps"] = (saved.total_steps(), steps)
        overrides.update(steps=steps, frames=None)
    order = [f.name for f in dataclasses.fields(Config)]
    changes = dict(sorted(changes.items(), key=lambda item: order.index(item[0])))
    return dataclasses.replace(saved, **overrides), changes


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return " ".join(str(v) for v in value)
    return str(value)


def check_replay(run_dir: Path, checkpoint: dict[str, Any], cfg: Config) -> None:
    """The replay chunks a resumed buffer loads are present, contiguous and intact.

    Raises:
        ReplayError: names the first chunk missing, inconsistent or damaged.
    """
    folder = run_dir / "replay"
    capacity = cfg.replay_capacity or cfg.total_steps()
    frame_shape = (3, cfg.render_size, cfg.render_size)
    action_dim = int(checkpoint["action_shape"][0])
    chain, _ = resume_chain(folder, checkpoint["replay"], capacity, frame_shape, action_dim)
    for chunk, _ in chain:
        try:
            with zipfile.ZipFile(chunk.path) as archive:
                bad = archive.testzip()  # reads every member, checking its CRC
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            bad = f"{type(error).__name__}: {error}"
        if bad:
            raise ReplayError(
                f"replay chunk {str(chunk.path)!r} is damaged and cannot be read (bad data in "
                f"{bad}); restore replay/ from a backup, or start a new run in another --run-dir"
            )


def check_weights_fit(agent: Any, saved: dict[str, Any]) -> None:
    """The checkpoint's weights have the shapes of the agent its config built.

    Raises:
        CheckpointError: the first part whose parameters or shapes differ.
    """
    ours = agent.state_dict()
    if set(ours) != set(saved):
        raise CheckpointError(
            f"the checkpoint's agent has parts {sorted(saved)}, this run's {sorted(ours)}; it "
            "was edited or written by another program: restore it from a backup"
        )
    for part, state in ours.items():
        if not isinstance(state, dict) or part.endswith("optimizer"):
            continue
        theirs = saved[part]
        for key, tensor in state.items():
            found = getattr(theirs.get(key) if isinstance(theirs, dict) else None, "shape", None)
            if found != tensor.shape:
                raise CheckpointError(
                    f"the checkpoint's {part}.{key} has shape {list(found or [])}, the run's "
                    f"networks {list(tensor.shape)}; it was edited or written by another "
                    "program: restore it from a backup"
                )
