"""The checks a run's settings pass before any set-up, one set for ``sgqn.train``, ``sgqn.eval``
and ``sgqn.sweep``.

Every check raises :class:`~sgqn.config.ConfigError` with one line naming the flag, what it
expects and the value given:

- :func:`check_settings`: each field of a :class:`~sgqn.config.Config` has its type and range
  (sizes and counts >= 1, seeds in numpy's seed range, learning rates > 0, momenta in (0, 1],
  ...), and the relations that do not depend on a preset hold (the encoder fits the image,
  a DMC task can render it, an overlay folder exists). Fields a preset fills may be None.
- :func:`check_resolved`: the same, plus what needs the preset's values (``--init-steps``
  below the run's length, at least one eval mode); :func:`sgqn.config.check` is this check.
- :func:`check_count`, :func:`check_seed`, :func:`check_device`, :func:`training_env_id`: the
  same rules for flags outside the config (``sgqn.eval --episodes``, ``--seeds`` of a sweep).
- :func:`type_problem`: whether a value has a field's type (used on checkpoints' configs too).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sgqn.config import Config, ConfigError

if TYPE_CHECKING:
    import torch

__all__ = [
    "SEED_LIMIT",
    "DMC_MAX_RENDER_SIZE",
    "flag_name",
    "type_problem",
    "check_settings",
    "check_resolved",
    "check_count",
    "check_seed",
    "check_device",
    "training_env_id",
    "min_image_size",
]

SEED_LIMIT = 2**32  # numpy's legacy seed range; seeds 2**32 apart would draw the same numbers
# px: dm_control's suite models declare a 640 x 480 offscreen buffer, and a DMC task renders
# square frames, so image_size (+ crop_margin for rad and soda) must fit in 480.
DMC_MAX_RENDER_SIZE = 480

# --- ranges, by field ------------------------------------------------------------------------

_AT_LEAST_1 = (
    "frame_stack",
    "action_repeat",
    "image_size",
    "crop_margin",
    "steps",
    "frames",
    "eval_freq",
    "eval_episodes",
    "save_freq",
    "batch_size",
    "replay_capacity",
    "threads",
    "actor_update_freq",
    "critic_target_update_freq",
    "num_conv_layers",
    "num_filters",
    "projection_dim",
    "hidden_dim",
    "soda_batch_size",
    "aux_update_freq",
)
_AT_LEAST_0 = ("init_steps", "saliency_freq", "shift_pad", "final_eval_episodes")
_POSITIVE = ("actor_lr", "critic_lr", "alpha_lr", "soda_lr", "aux_lr", "init_temperature")
_ADAM_BETAS = ("actor_beta", "critic_beta", "alpha_beta", "soda_beta", "aux_beta")  # [0, 1)
_MOMENTA = ("critic_tau", "encoder_tau", "soda_tau")  # (0, 1]
_FRACTIONS = ("discount", "overlay_alpha")  # [0, 1]
_WEIGHTS = ("svea_alpha", "svea_beta", "consistency_weight")  # >= 0
_OVERLAY_NAMES = ("places365-train", "places365-val", "embedded", "auto")


def flag_name(field: str) -> str:
    """``--batch-size`` for the field ``batch_size``."""
    return "--" + field.replace("_", "-")


def _range_problem(name: str, value: Any) -> str | None:
    """What is wrong with a field's value of the right type, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    if name in _AT_LEAST_1 and not value >= 1:
        return "must be >= 1"
    if name in _AT_LEAST_0 and not value >= 0:
        return "must be >= 0"
    if name == "seed" and not 0 <= value < SEED_LIMIT:
        return f"must be in [0, {SEED_LIMIT - 1}]"
    if name in _POSITIVE and not value > 0:
        return "must be > 0"
    if name in _ADAM_BETAS and not 0 <= value < 1:
        return "must be in [0, 1) (an Adam beta)"
    if name in _MOMENTA and not 0 < value <= 1:
        return "must be in (0, 1]"
    if name in _FRACTIONS and not 0 <= value <= 1:
        return "must be in [0, 1]"
    if name in _WEIGHTS and not value >= 0:
        return "must be >= 0"
    if name == "saliency_quantile" and not 0 < value < 1:
        return "must be in (0, 1)"
    if name == "eval_modes" and not all(value):
        return "must not name an empty mode"
    return None


# --- types -----------------------------------------------------------------------------------


def type_problem(value: Any, hint: Any) -> str | None:
    """What a value lacks to have the type ``hint`` of a Config field, or None.

    Ints are not bools; a float field takes an int; tuples may come as lists (JSON).

    Example:
        >>> type_problem("lots", int)
        'expected an integer'
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        problems = [type_problem(value, a) for a in args if a is not type(None)]
        return None if None in problems else problems[0]
    if origin is Literal:
        return None if value in args else f"expected one of {list(args)}"
    if origin in (tuple, list):
        if not isinstance(value, (tuple, list)):
            return "expected a list"
        for item in value:
            problem = type_problem(item, args[0])
            if problem:
                return f"{problem} in the list"
        return None
    if origin is dict:
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            return "expected a mapping of strings to strings"
        return None
    if hint is bool:
        return None if isinstance(value, bool) else "expected true or false"
    if hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else "expected an integer"
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if ok else "expected a number"
    if hint is str:
        return None if isinstance(value, str) else "expected a string"
    return None


_HINTS: dict[str, Any] = {}


def _hints() -> dict[str, Any]:
    if not _HINTS:
        _HINTS.update(typing.get_type_hints(Config))
    return _HINTS


# --- the config ------------------------------------------------------------------------------


def min_image_size(num_conv_layers: int) -> int:
    """The smallest image the encoder takes: 3x3 convolutions, the first of stride 2."""
    # out = (size - 3) // 2 + 1 - 2 * (layers - 1) >= 1
    return 4 * num_conv_layers - 1


def _settings_problems(cfg: Config, local: bool) -> list[str]:
    problems = []
    hints = _hints()
    for f in dataclasses.fields(Config):
        value = getattr(cfg, f.name)
        problem = type_problem(value, hints[f.name])
        if problem is None and value is not None:
            problem = _range_problem(f.name, value)
        if problem:
            problems.append(f"{flag_name(f.name)} {problem}, actual value: {value!r}")
    if problems:  # the relations below need values of the right types
        return problems
    if cfg.steps is not None and cfg.frames is not None:
        problems.append("give either --steps or --frames, not both")
    if not cfg.actor_log_std_min < cfg.actor_log_std_max:
        problems.append(
            f"--actor-log-std-min must be below --actor-log-std-max, actual values: "
            f"{cfg.actor_log_std_min}, {cfg.actor_log_std_max}"
        )
    smallest = min_image_size(cfg.num_conv_layers)
    if cfg.image_size < smallest:
        problems.append(
            f"--image-size {cfg.image_size} is too small for --num-conv-layers "
            f"{cfg.num_conv_layers}: the encoder needs at least {smallest} pixels; raise "
            "--image-size or lower --num-conv-layers"
        )
    if _is_dmc_task(cfg.env) and cfg.render_size > DMC_MAX_RENDER_SIZE:
        margin = " + --crop-margin" if cfg.render_size != cfg.image_size else ""
        problems.append(
            f"--image-size{margin} = {cfg.render_size}: DMC tasks render at most "
            f"{DMC_MAX_RENDER_SIZE}x{DMC_MAX_RENDER_SIZE} pixels (the suite's offscreen buffer)"
        )
    if local and cfg.uses_overlay and cfg.overlay_source not in (None, *_OVERLAY_NAMES):
        folder = Path(cfg.overlay_source).expanduser()
        if not folder.is_dir():
            what = "is not a folder" if folder.exists() else "does not exist"
            problems.append(
                f"--overlay-source {cfg.overlay_source!r} {what}; pass a folder of images, or "
                f"one of {', '.join(_OVERLAY_NAMES)}"
            )
    return problems


def _is_dmc_task(env_id: str) -> bool:
    name = env_id.split("/")[-1]
    return env_id.startswith("dmcgb/") and not name.startswith("Robot")


def check_settings(cfg: Config, local: bool = True) -> None:
    """Check every field of a config (preset fields may still be None).

    Args:
        cfg: the config.
        local: also check what depends on this machine (an overlay folder exists); False for
            the config of a checkpoint made elsewhere, which only evaluation reads.

    Raises:
        ConfigError: the first field whose type or value cannot work, naming its flag.
    """
    problems = _settings_problems(cfg, local)
    if problems:
        raise ConfigError(problems[0])


def check_resolved(cfg: Config) -> None:
    """Check a config whose preset fields are filled: :func:`check_settings`, then the run's
    length, ``--init-steps`` within it, and at least one eval mode.

    Raises:
        ConfigError: the first value that cannot work, naming its flag.
    """
    check_settings(cfg)
    unset = [flag_name(n) for n in ("steps", "init_steps", "eval_modes") if getattr(cfg, n) is None]
    if cfg.steps is None and cfg.frames is not None:
        unset.remove("--steps")
    if unset:
        raise ConfigError(f"{', '.join(unset)} not set: resolve the config with a preset first")
    total = cfg.total_steps()
    if total < 1:
        raise ConfigError(
            f"--steps/--frames must give at least 1 agent step, actual value: {total}"
        )
    if not cfg.init_steps < total:
        raise ConfigError(f"--init-steps must be in [0, {total}), actual value: {cfg.init_steps}")
    if not cfg.eval_modes:
        raise ConfigError("--eval-modes must name at least one mode, e.g. train")


# --- flags outside the config ------------------------------------------------------------------


def check_count(flag: str, value: int | None, minimum: int = 1) -> None:
    """Raise ConfigError unless ``value`` (None: unset) is an integer >= ``minimum``."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{flag} must be an integer >= {minimum}, actual value: {value!r}")


def check_seed(value: int | None, flag: str = "--seed") -> None:
    """Raise ConfigError unless ``value`` (None: unset) is a seed in [0, 2**32)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < SEED_LIMIT:
        raise ConfigError(f"{flag} must be in [0, {SEED_LIMIT - 1}], actual value: {value!r}")


def _usable_devices() -> list[str]:
    import torch

    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        devices.append("mps")
    xpu = getattr(torch, "xpu", None)
    if xpu is not None and xpu.is_available():
        devices += [f"xpu:{i}" for i in range(xpu.device_count())]
    return devices


def check_device(name: str | None, flag: str = "--device") -> torch.device:
    """The torch device ``name`` names, if torch can use it on this machine.

    Args:
        name: ``cpu``, ``cuda``, ``cuda:1``, ``mps``, ...; None: CUDA when torch sees a GPU,
            else the CPU.
        flag: the flag named in errors.

    Raises:
        ConfigError: a name torch does not parse, or a device this machine does not have; the
            message lists the devices it has.
    """
    import torch

    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    usable = _usable_devices()
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(
            f"{flag} {name!r} is not a torch device; devices here: {', '.join(usable)}"
        ) from None
    index = 0 if device.index is None else device.index
    if device.type != "cpu" and not {device.type, f"{device.type}:{index}"} & set(usable):
        raise ConfigError(
            f"{flag} {name}: torch cannot use that device on this machine; devices here: "
            f"{', '.join(usable)}"
        )
    return device


def training_env_id(name: str, flag: str = "--env") -> str:
    """The env id a run trains on: a dmcgb task name stands for its ``train`` distribution.

    ``WalkerWalk`` -> ``dmcgb/WalkerWalk-train-v0`` (what ``sgqn.sweep --envs`` takes); a full
    id, or any id Gymnasium registers, is kept as given.

    Raises:
        ConfigError: neither a task nor a registered id; the message names the closest tasks
            and ids.
    """
    if "/" in name:
        return name
    import gymnasium as gym

    from dmcgb.registration import ROBOT_TASKS, all_env_ids, env_id
    from dmcgb.tasks import TASKS

    tasks = sorted([*TASKS, *ROBOT_TASKS])
    if name in tasks:
        return env_id(name, "train")
    if name in gym.registry:
        return name
    by_task = [
        f"{t!r} ({env_id(t, 'train')})" for t in difflib.get_close_matches(name, tasks, 2, 0.6)
    ]
    by_id = [repr(i) for i in difflib.get_close_matches(f"dmcgb/{name}", all_env_ids(), 2, 0.8)]
    close = [*by_id, *by_task] if "-" in name else [*by_task, *by_id]
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise ConfigError(
        f"{flag}: {name!r} is neither a dmcgb task nor a registered env id{hint} (a task such "
        "as WalkerWalk, or a full id such as dmcgb/WalkerWalk-videohard-v0; python -m dmcgb "
        "lists them)"
    )
