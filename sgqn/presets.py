"""The presets: values for the run fields a user leaves unset, and what differs from the paper.

``paper`` is the SGQN paper's protocol; ``cpu-demo`` shows the whole pipeline in minutes on a
CPU. :func:`resolve` fills a :class:`~sgqn.config.Config`'s unset preset fields (explicit values
are kept) and checks it; :func:`paper_differences` lists what a resolved config changes from
the paper's protocol (what ``sgqn.train`` prints and records).
"""

from __future__ import annotations

import dataclasses

from sgqn.config import PAPER_STEPS, TASK_DEFAULTS, Config, ConfigError, check, task_kind

__all__ = ["PRESETS", "PRESET_FIELDS", "RUN_FIELDS", "resolve", "paper_differences", "preset_value"]

# What each preset gives the fields left at None. eval_modes differ by kind of task.
PRESETS: dict[str, dict[str, object]] = {
    "paper": {
        # Robot tasks: 250k steps, as the authors' robot_env scripts (Appendix D).
        "steps": {"dmc": PAPER_STEPS, "robot": 250_000, "other": PAPER_STEPS},
        "init_steps": 1000,
        "eval_freq": 10_000,
        "eval_episodes": 30,
        # The authors' train.py evaluates at step 0 too (the first point of the curves).
        "eval_at_start": True,
        # DMControl-GB's eval.py scores a trained agent on 100 episodes per mode (the authors'
        # scripts/eval); the robot code has no such evaluation (Table 6: the periodic one).
        "final_eval_episodes": {"dmc": 100, "robot": 0, "other": 100},
        "eval_modes": {
            "dmc": ("train", "videoeasy", "videohard"),
            "robot": ("train", "test1", "test2", "test3", "test4", "test5"),
            "other": ("train",),
        },
        "save_freq": 10_000,
        "saliency_freq": 10_000,
        "batch_size": 128,
        # The authors' overlay images: Places365 train (fetched on first use, ~24 GB).
        "overlay_source": "places365-train",
    },
    "cpu-demo": {
        # The whole pipeline with the paper's networks (training with its seed updates, an
        # evaluation on train and video_hard, the saliency figure, the results table) within
        # 3 minutes on a 2-core CPU: 100 steps (0.4 of an episode), 99 SG-SAC updates at
        # batch 8, 1 evaluation episode per mode. Not the paper's numbers.
        "steps": 100,
        "init_steps": 50,
        "eval_freq": 100,
        "eval_episodes": 1,
        "eval_at_start": False,
        "final_eval_episodes": 0,
        "eval_modes": {
            "dmc": ("train", "videohard"),
            "robot": ("train", "test1", "test2", "test3", "test4", "test5"),
            "other": ("train",),
        },
        "save_freq": 100,
        "saliency_freq": 100,
        "batch_size": 8,
        "overlay_source": "auto",
    },
}
PRESET_FIELDS: tuple[str, ...] = tuple(PRESETS["paper"])
# Fields that say what and where to run, and how fast, not what is computed: never reported
# as differences from the paper (overlap gives bit-identical results; compile, like device,
# changes float rounding only).
RUN_FIELDS: tuple[str, ...] = (
    "env",
    "algo",
    "seed",
    "preset",
    "run_dir",
    "resume",
    "device",
    "threads",
    "dry_run",
    "overlap",
    "compile",
    "save_video",
    "extra",
)


def preset_value(preset: str, name: str, env_id: str) -> object:
    """The value ``preset`` gives field ``name`` for a run on ``env_id``."""
    value = PRESETS[preset][name]
    return value[task_kind(env_id)] if isinstance(value, dict) else value


def resolve(cfg: Config, preset: str | None = None) -> Config:
    """Fill the fields left at None from the preset and ``TASK_DEFAULTS``, then check every value.

    Args:
        cfg: the config as given (explicit values are kept).
        preset: the preset to use when ``cfg.preset`` is None.

    Returns:
        A config with ``preset`` set, every preset field concrete and ``steps`` set (from
        ``--frames`` if that was given).

    Raises:
        ConfigError: an unknown preset, or a value that cannot work.
    """
    name = cfg.preset or preset or "paper"
    if name not in PRESETS:
        raise ConfigError(f"--preset must be one of {sorted(PRESETS)}, actual value: {name!r}")
    if cfg.steps is not None and cfg.frames is not None:
        raise ConfigError("give either --steps or --frames, not both")
    filled: dict[str, object] = {"preset": name}
    for field_name in PRESET_FIELDS:
        if getattr(cfg, field_name) is None:
            if field_name == "steps" and cfg.frames is not None:
                continue
            filled[field_name] = preset_value(name, field_name, cfg.env)
    for field_name, by_kind in TASK_DEFAULTS.items():
        if getattr(cfg, field_name) is None:
            filled[field_name] = by_kind[task_kind(cfg.env)]
    cfg = dataclasses.replace(cfg, **filled)
    if cfg.frames is not None:
        cfg = dataclasses.replace(cfg, steps=cfg.frames // cfg.action_repeat, frames=None)
    check(cfg)
    return cfg


def paper_differences(cfg: Config) -> dict[str, tuple[object, object]]:
    """Every protocol value of a resolved config that differs from the paper's.

    Returns:
        ``{field: (value, paper value)}``, in field order; run fields (env, seed, run_dir,
        device, ...) are not protocol values and never listed.
    """
    paper = resolve(Config(env=cfg.env, algo=cfg.algo, action_repeat=cfg.action_repeat), "paper")
    differences = {}
    for f in dataclasses.fields(Config):
        if f.name in RUN_FIELDS:
            continue
        ours, theirs = getattr(cfg, f.name), getattr(paper, f.name)
        if ours != theirs:
            differences[f.name] = (ours, theirs)
    return differences
