"""torch.compile: compiled networks give the eager agent's updates, to float32 rounding.

Inductor fuses and reorders float32 arithmetic (reduction order, vectorised exp/tanh), so a
compiled pass differs from the eager one by rounding, ~1e-7 relative per op, accumulated over
the encoder's layers and the backward pass: the losses agree to rtol 1e-4 (the tolerance of
the plain-computation tests) and so do the gradients (Adam's first moments after one update,
0.1 x the gradient), where the largest difference is compared to each tensor's own scale.
Parameters are not compared: Adam's first step moves each weight by about lr * sign(gradient),
which rounding can flip where a gradient is ~0. Random numbers drawn inside compiled networks
are torch's own (``fallback_random``), so both agents see the same noise.

Slow: inductor compiles C++ kernels for each kind of pass, 1 to 4 minutes per test on this
project's shared 2-core machine with a cold cache.
"""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
from torch._dynamo.utils import counters

from dmcgb.protocol.results import is_finished
from sgqn import train
from sgqn.agent.factory import build_agent
from sgqn.agent.sac import SAC
from sgqn.train.checkpoint import config_from_dict, load_checkpoint
from tests.sgqn.agent.test_algorithms import FixedReplay, _agent, _batch
from tests.sgqn.runs import tiny

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated"),  # torch's own
]

_RTOL, _ATOL = 1e-4, 1e-5  # losses: as the plain-computation tests
_GRAD_TOL = 1e-3  # gradients: max |difference| / max |eager value| per tensor (seen: 1.3e-4)


def _first_moments(agent: SAC) -> dict[str, torch.Tensor]:
    """Adam's exp_avg of every optimised tensor, by optimiser and index."""
    moments = {}
    for name, part in agent.stateful().items():
        if isinstance(part, torch.optim.Optimizer):
            for index, state in part.state_dict()["state"].items():
                moments[f"{name}[{index}]"] = state["exp_avg"]
    return moments


@pytest.mark.parametrize("algo", ["sgqn", "svea_soda"])
def test_compiled_updates_agree_with_eager(algo):
    eager = _agent(algo)
    compiled = copy.deepcopy(eager)
    compiled.compile()
    breaks = sum(counters["graph_break"].values())
    replay = FixedReplay(eager.obs_shape)
    for step in (2, 3):  # an even step (every phase) and an odd one (the critic)
        batch = _batch(eager.obs_shape, seed=step)
        torch.manual_seed(step)
        expected = eager.update(batch, step, replay)
        eager_rng = torch.get_rng_state()
        torch.manual_seed(step)
        metrics = compiled.update(batch, step, replay)
        # as many draws from the global generator: the run's random stream stays aligned
        assert torch.equal(torch.get_rng_state(), eager_rng)
        assert metrics.keys() == expected.keys()
        for name, value in expected.items():
            torch.testing.assert_close(metrics[name], value, rtol=_RTOL, atol=_ATOL, msg=name)
    ours, theirs = _first_moments(compiled), _first_moments(eager)
    assert ours.keys() == theirs.keys() and len(ours) > 10
    for name, moment in theirs.items():
        assert _relative_difference(ours[name], moment) <= _GRAD_TOL, name
    obs = _batch(eager.obs_shape, n=2).obs
    maps, expected_maps = compiled.attribution_maps(obs), eager.attribution_maps(obs)
    assert _relative_difference(maps.attribution, expected_maps.attribution) <= _GRAD_TOL
    # every pass (critic, guided attribution, actor, heads) traced whole: no graph break
    assert sum(counters["graph_break"].values()) == breaks
    assert counters["stats"]["unique_graphs"] > 0


def _relative_difference(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    """max |ours - theirs| over max |theirs|, at least 1e-5: a bias followed by BatchNorm
    (SODA's MLPs) has a gradient of exactly 0 in exact arithmetic, ~1e-10 of rounding here."""
    return ((ours - theirs).abs().max() / theirs.abs().max().clamp_min(1e-5)).item()


def test_compile_trains_and_its_checkpoint_loads_into_an_eager_agent(tmp_path, dmcgb_data):
    run = tmp_path / "run"
    train.main(tiny(algo="sgqn", steps=45, compile=True, run_dir=str(run)), progress=False)
    assert is_finished(run)
    checkpoint = load_checkpoint(run / "checkpoint.pt")
    cfg = config_from_dict(checkpoint["config"])
    assert cfg.compile and checkpoint["step"] == 45
    eager = build_agent(
        cfg.obs_shape,
        tuple(checkpoint["action_shape"]),
        dataclasses.replace(cfg, compile=False),
        "cpu",
    )
    eager.load_state_dict(checkpoint["agent"])  # the same parameter names as an eager agent's
