"""sgqn.report on real (tiny) runs trained in this test session with sgqn.train.main."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from sgqn import report, train
from sgqn.report.curves import learning_curves
from tests.sgqn.runs import tiny

# The shared tiny run at action repeat 8 (125-step episodes), 60 agent steps, one train
# episode per evaluation at steps 30 and 60: a few seconds of training per run.
_LONGER = dict(action_repeat=8, steps=60, init_steps=30, eval_freq=30)


def _plain_returns(run_dir, name):
    """Per-episode returns by mode, read with plain json (not through sgqn.results)."""
    data = json.loads((run_dir / name).read_text())
    return {r["mode"]: r["returns"] for r in data["results"]}


def test_report_of_real_runs(tmp_path, dmcgb_data):
    runs = tmp_path / "runs"
    for seed in (1, 2):
        cfg = tiny(**_LONGER, seed=seed, run_dir=str(runs / f"sac-s{seed}"))
        train.main(cfg, progress=False)
    # Two copies that must not be averaged: one unfinished, one with another batch size.
    shutil.copytree(runs / "sac-s2", runs / "unfinished", ignore=shutil.ignore_patterns("replay"))
    (runs / "unfinished" / "results.json").unlink()
    shutil.copytree(runs / "sac-s1", runs / "batch16", ignore=shutil.ignore_patterns("replay"))
    record = json.loads((runs / "batch16" / "config.json").read_text())
    record["config"]["batch_size"] = 16
    (runs / "batch16" / "config.json").write_text(json.dumps(record))

    result = report.build_report([runs], reps=500)
    files = report.write_report(result, tmp_path / "report")

    (cell,) = result.cells
    per_seed = [
        np.mean(_plain_returns(runs / f"sac-s{s}", "results.json")["train"]) for s in (1, 2)
    ]
    assert (cell.task, cell.mode, cell.algo, cell.seeds) == (
        "CartpoleBalance",
        "train",
        "sac",
        (1, 2),
    )
    assert (cell.step, cell.frames) == (60, 480)
    assert cell.stats() == pytest.approx((np.mean(per_seed), np.std(per_seed)))
    reasons = {s.path.name: s.reason for s in result.skipped}
    assert reasons["unfinished"].startswith("unfinished: no results.json")
    assert "batch_size=16 (others: 8)" in reasons["batch16"]
    assert set(reasons) == {"unfinished", "batch16"}

    curve = result.runs[0].curve
    assert [e.step for e in curve] == [30, 60]
    halfway = [
        np.mean(_plain_returns(runs / f"sac-s{s}", "evals/step00000030.json")["train"])
        for s in (1, 2)
    ]
    points = learning_curves(result.runs, result.cells)["return"][("train", "CartpoleBalance")][
        "sac"
    ]
    np.testing.assert_allclose(points.mean, [np.mean(halfway), np.mean(per_seed)])
    assert files["curves_return"].stat().st_size > 5_000
    assert f"{np.mean(per_seed):.0f} ± {np.std(per_seed):.0f} (2)" in files["markdown"].read_text()
