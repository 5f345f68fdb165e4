"""The shipped published numbers: their transcription, their sources, their lookup."""

from __future__ import annotations

import json

import pytest

from sgqn.results.published import load_published

_TASKS = ("WalkerWalk", "WalkerStand", "BallInCupCatch", "CartpoleSwingup", "FingerSpin")
_BASELINES = ("sac", "rad", "soda", "svea")
# The image's own "Δ" column: SGQN minus the best baseline, per task (Easy, then Hard). An
# independent check of the hand transcription of the 50 mean values.
_PRINTED_DELTA = {
    "videoeasy": (82, -11, 11, 15, 72),
    "videohard": (354, 104, 284, 134, 319),
}


def test_every_transcribed_mean_agrees_with_the_printed_deltas():
    published = load_published()
    for mode, deltas in _PRINTED_DELTA.items():
        for task, delta in zip(_TASKS, deltas, strict=True):
            best = max(published.get(task, mode, algo).mean for algo in _BASELINES)
            assert published.get(task, mode, "sgqn").mean - best == delta, (task, mode)


def test_pinned_cells_and_their_source():
    published = load_published()
    cell = published.get("WalkerWalk", "videohard", "sgqn")
    assert (cell.mean, cell.std, cell.metric) == (739.0, 21.0, "return")
    assert published.get("FingerSpin", "videoeasy", "sac").std == 8.0
    assert len(published.results) == 50
    assert {(r.mode, r.algo) for r in published.results} == {
        (m, a) for m in _PRINTED_DELTA for a in (*_BASELINES, "sgqn")
    }
    source = published.sources[cell.source]
    assert "arXiv:2209.09203" in source["reference"]
    assert "9b854e80f4335ec8258bdecd381b1737d3133b4a" in source["where"]
    assert any("Table 6" in m for m in published.missing)
    assert published.get("RobotReach", "test1", "sgqn") is None  # not shipped: no guess


def test_bad_files_are_rejected(tmp_path):
    path = tmp_path / "published.json"
    path.write_text(json.dumps({"schema": 2, "sources": {}, "results": []}))
    with pytest.raises(ValueError, match="expected schema 1"):
        load_published(path)
    row = {"source": "nowhere", "task": "T", "mode": "m", "algo": "a", "metric": "return"}
    path.write_text(
        json.dumps({"schema": 1, "sources": {}, "results": [{**row, "mean": 1, "std": 0}]})
    )
    with pytest.raises(ValueError, match="unknown source"):
        load_published(path)
