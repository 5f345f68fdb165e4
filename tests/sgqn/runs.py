"""Tiny training runs shared by the sgqn tests (not a test module)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import torch

from sgqn.config import Config

ENV = "dmcgb/CartpoleBalance-train-v0"
# Tiny networks and an action repeat of 25 (40-step episodes): rendering, once per agent step,
# is most of a test run's time, and an episode renders 40 frames.
TINY = dict(
    env=ENV,
    algo="sac",
    seed=3,
    action_repeat=25,
    init_steps=20,
    eval_freq=45,
    eval_episodes=1,
    eval_modes=("train",),
    save_freq=60,
    saliency_freq=0,
    batch_size=8,
    num_conv_layers=3,
    num_filters=8,
    hidden_dim=32,
    overlay_source="embedded",
)

# Columns that measure the machine, not the run.
TIME_COLUMNS = ("steps_per_s",)


def tiny(**overrides) -> Config:
    return Config(**{**TINY, **overrides})


def csv_rows(path: Path, drop: tuple[str, ...] = TIME_COLUMNS) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return [{k: v for k, v in row.items() if k not in drop} for row in csv.DictReader(f)]


def json_file(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def assert_same_state(a, b, where: str = "") -> None:
    """Equal bit for bit: tensors, numbers and the nested dicts and lists holding them."""
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same_state(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_state(x, y, f"{where}[{i}]")
    else:
        assert a == b, where
