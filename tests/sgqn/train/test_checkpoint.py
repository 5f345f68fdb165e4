"""Checkpoints: atomic writes, full agent/optimiser/RNG round trip, config round trip, and
weights-only loading (a crafted file is refused, nothing in it runs)."""

from __future__ import annotations

import os
import pickle
import random

import numpy as np
import pytest
import torch

from sgqn.agent.factory import build_agent
from sgqn.agent.interfaces import Batch
from sgqn.agent.sac import SAC
from sgqn.config import Config
from sgqn.train.checkpoint import (
    CheckpointError,
    check_resumable,
    config_from_dict,
    config_to_dict,
    load_checkpoint,
    save_checkpoint,
    set_rng_state,
)
from sgqn.train.overlay import EmbeddedSource, OverlayStream
from tests.conftest import SEED

_TINY = {"num_conv_layers": 2, "num_filters": 8, "hidden_dim": 32, "batch_size": 4}


def _agent(cfg: Config) -> SAC:
    stream = OverlayStream(EmbeddedSource(), 84, "cpu", seed=SEED, background=False)
    return build_agent((9, 84, 84), (2,), cfg, "cpu", overlay=stream)


def _batch(n: int = 4) -> Batch:
    g = torch.Generator().manual_seed(SEED)
    pixels = lambda: torch.randint(0, 256, (n, 9, 84, 84), dtype=torch.uint8, generator=g)  # noqa: E731
    return Batch(
        pixels(),
        torch.rand(n, 2, generator=g) * 2 - 1,
        torch.rand(n, 1, generator=g),
        pixels(),
        torch.ones(n, 1),
    )


def test_config_round_trips_through_its_dict():
    cfg = Config(
        env="dmcgb/CartpoleBalance-train-v0",
        eval_modes=("train", "colorhard"),
        steps=123,
        extra={"overlay": "embedded"},
        **_TINY,
    )
    assert config_from_dict(config_to_dict(cfg)) == cfg
    assert config_to_dict(cfg)["eval_modes"] == ["train", "colorhard"]  # JSON-ready


def test_agent_optimisers_and_rng_round_trip(tmp_path):
    torch.manual_seed(SEED)
    cfg = Config(algo="sgqn", **_TINY)
    agent = _agent(cfg)
    for step in range(3):
        agent.update(_batch(), step)
    random.seed(5)
    np.random.seed(5)
    path = save_checkpoint(
        tmp_path / "checkpoint.pt", agent=agent, cfg=cfg, step=3, action_shape=[2], episode=1
    )
    expected = (random.random(), np.random.rand(), torch.rand(1))
    # continue the original for one update, and a restored copy for the same update
    agent.update(_batch(), 3)

    payload = load_checkpoint(path)
    assert payload["step"] == 3 and payload["episode"] == 1
    restored = _agent(config_from_dict(payload["config"]))
    restored.load_state_dict(payload["agent"])
    set_rng_state(payload["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1)) == expected
    set_rng_state(payload["rng"])
    torch.rand(1)  # the original drew this before its update
    restored.update(_batch(), 3)
    for a, b in zip(agent.critic.parameters(), restored.critic.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    assert restored.critic_optimizer.state_dict()["state"][0]["step"] == 4


def test_interrupted_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    cfg = Config(algo="sac", **_TINY)
    agent = _agent(cfg)
    path = save_checkpoint(
        tmp_path / "checkpoint.pt", agent=agent, cfg=cfg, step=1, action_shape=[2]
    )

    def failing_save(obj, f):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, agent=agent, cfg=cfg, step=2, action_shape=[2])
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1


def test_missing_checkpoint_error_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*checkpoint.pt"):
        load_checkpoint(tmp_path / "checkpoint.pt")


@pytest.mark.parametrize("algo", ["sac", "sac_consistency", "sac_ssl", "sgqn"])
def test_every_algo_checkpoints_in_the_weights_only_format(tmp_path, algo):
    cfg = Config(algo=algo, **_TINY)
    agent = _agent(cfg)
    agent.update(_batch(), 0)
    explore = np.random.default_rng(7)
    explore.random()
    path = save_checkpoint(
        tmp_path / "checkpoint.pt",
        agent=agent,
        cfg=cfg,
        step=1,
        action_shape=[2],
        explore_rng=explore.bit_generator.state,
        pending_action=torch.ones(2),
        open_episode=None,
    )
    payload = torch.load(path, weights_only=True)  # what load_checkpoint does
    assert payload["config"]["algo"] == algo
    assert np.random.default_rng(7).bit_generator.state != payload["explore_rng"]
    restored = np.random.default_rng(0)
    restored.bit_generator.state = payload["explore_rng"]
    assert restored.random() == explore.random()


def test_saving_something_that_would_not_load_safely_fails_at_once(tmp_path):
    cfg = Config(algo="sac", **_TINY)
    with pytest.raises(TypeError, match=r"checkpoint\['when'\] \(datetime\)"):
        import datetime

        save_checkpoint(
            tmp_path / "c.pt", agent=_agent(cfg), cfg=cfg, step=0, action_shape=[2],
            when=datetime.datetime.now(),
        )  # fmt: skip
    assert not (tmp_path / "c.pt").exists()


class _Payload:
    """Unpickling this object would create a file: the classic pickle exploit."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_crafted_checkpoint_is_refused_without_running_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "checkpoint.pt"
    torch.save({"format": 2, "agent": {}, "config": {}, "evil": _Payload(marker)}, path)
    with pytest.raises(CheckpointError, match="objects other than tensors and plain values"):
        load_checkpoint(path)
    assert not marker.exists()
    # the same bytes unpickled without the weights-only guard would have run the payload
    torch.load(path, weights_only=False)["evil"].close()
    assert marker.exists()


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04 truncated zip"])
def test_a_damaged_checkpoint_is_a_clear_error(tmp_path, content):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="is damaged and cannot be read.*another --run-dir"):
        load_checkpoint(path)


def test_a_foreign_payload_is_not_taken_for_a_checkpoint(tmp_path):
    path = tmp_path / "checkpoint.pt"
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match="not an sgqn checkpoint of format 2"):
        load_checkpoint(path)
    pickle.dumps(0)  # (pickle stays importable for the payload class above)


class _System:
    """Unpickling this would run a shell command (os.system: a module torch blocks outright)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("payload_class, imported", [(_Payload, "open"), (_System, "system")])
def test_code_running_files_are_named_as_such_whatever_torch_says(
    tmp_path, payload_class, imported
):
    """torch raises pickle.UnpicklingError for every refusal and words them differently (an
    object "not allowed by default", a module "blocked"); the globals the file imports, not
    the wording, say it would run code."""
    marker, path = tmp_path / "pwned", tmp_path / "checkpoint.pt"
    torch.save({"format": 2, "agent": {}, "config": {}, "x": payload_class(marker)}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)  # the type torch raises
    with pytest.raises(CheckpointError, match=rf"imports \S*{imported}\), so it was not loaded"):
        load_checkpoint(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda p: {"format": 2}, "it has no 'agent'"),
        (lambda p: {**p, "step": "ten"}, "its 'step' must be an integer >= 0, found 'ten'"),
        (lambda p: {**p, "action_shape": [0]}, "its 'action_shape' must be a list of sizes >= 1"),
        (
            lambda p: {**p, "config": {**p["config"], "batch_size": "lots"}},
            "its config.batch_size: expected an integer, actual value: 'lots'",
        ),
        (
            lambda p: {**p, "config": {**p["config"], "hidden_dim": 0}},
            "its --hidden-dim must be >= 1, actual value: 0",
        ),
    ],
)
def test_payloads_are_checked_against_the_schema(tmp_path, edit, message):
    cfg = Config(algo="sac", **_TINY)
    path = save_checkpoint(tmp_path / "c.pt", agent=_agent(cfg), cfg=cfg, step=1, action_shape=[2])
    torch.save(edit(torch.load(path, weights_only=True)), path)
    with pytest.raises(CheckpointError, match="is not a valid sgqn checkpoint") as refused:
        load_checkpoint(path)
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_a_resumed_run_needs_the_loop_state_too(tmp_path):
    cfg = Config(algo="sac", **_TINY)
    path = save_checkpoint(tmp_path / "c.pt", agent=_agent(cfg), cfg=cfg, step=1, action_shape=[2])
    payload = load_checkpoint(path)  # enough to evaluate
    with pytest.raises(CheckpointError, match="it has no 'episode'"):
        check_resumable(path, payload)
