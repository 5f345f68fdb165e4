"""Any agent scored by ``dmcgb.evaluate`` sits in the report beside an sgqn agent scored by the
same API (a trained checkpoint's policy handed to it): one protocol, one results schema."""

from __future__ import annotations

import dataclasses

import numpy as np

import dmcgb
from dmcgb.protocol.envs import to_chw
from sgqn import eval as sgqn_eval
from sgqn import report, train
from sgqn.report import command
from tests.sgqn.runs import tiny


def test_a_scripted_policy_and_a_trained_sgqn_agent_in_one_report(tmp_path, capsys):
    run = tmp_path / "run"
    train.main(dataclasses.replace(tiny(steps=30, eval_freq=30), run_dir=str(run)), progress=False)

    def checkpoint_policy(seed):
        agent = sgqn_eval.load_agent(run, "cpu")[0]
        return lambda obs: agent.act(to_chw(obs), sample=False)

    out = tmp_path / "evaluations"
    common = dict(task="CartpoleBalance", modes="train", episodes=2, seeds=[1, 2], out=out,
                  action_repeat=25)  # fmt: skip
    dmcgb.evaluate(lambda obs: np.zeros(1, np.float32), name="zeros", **common)
    dmcgb.evaluate(checkpoint_policy, name="sac-checkpoint", factory=True, step=30, **common)
    result = report.build_report([str(out)], reps=200)
    assert {(c.algo, c.mode, c.seeds) for c in result.cells} == {
        ("zeros", "train", (1, 2)),
        ("sac-checkpoint", "train", (1, 2)),
    }
    text = report.render_markdown(result)
    assert "| mode | task | sac-checkpoint | zeros |" in text or "| mode | task | zeros |" in text
    # the paper's tables list them as agents the paper did not run, and do not crash
    command.cli(["--paper-table", "1", str(out), "--out", str(tmp_path / "tables")])
    assert "'zeros' is not one of the paper's algorithms" in capsys.readouterr().out
