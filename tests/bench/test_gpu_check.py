"""bench/gpu_check.py --quick: the GPU check's code, at tiny sizes on the CPU, end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

_SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "gpu_check.py"
_MODES = ("train", "videoeasy", "videohard")


@pytest.mark.slow  # ~1 min on a quiet 2-core machine, most of it inductor's compile
def test_gpu_check_quick_measures_every_part_and_extrapolates(tmp_path, env_data_dir):
    out = tmp_path / "check"
    env = {**os.environ, "DMCGB_DATA_DIR": str(env_data_dir), "DMCGB_OFFLINE": "1"}
    command = [sys.executable, str(_SCRIPT), "--quick", "--out", str(out), "--budget", "900"]
    command += ["--modes", ",".join(_MODES)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "gpu_check.json").read_text())
    assert report["quick"] and report["skipped"] == []
    assert report["conditions"]["device"] == "cpu"

    env_rates = {mode: report["env"][mode]["steps_per_s"] for mode in _MODES}
    assert all(rate > 0 for rate in env_rates.values())
    variants = {(r["algo"], r["amp"], r["compiled"]) for r in report["updates"]}
    assert variants == {(a, amp, c) for a in ("sac", "sgqn") for amp in (0, 1) for c in (0, 1)}
    for row in report["updates"]:
        assert row["updates_per_s"] > 0 and (("compile_s" in row) == row["compiled"])
    assert report["bf16_difference"] == {"sac": 0.0, "sgqn": 0.0}  # autocast is CUDA-only
    assert report["replay"]["samples_per_s"] > 0 and report["replay"]["adds_per_s"] > 0
    training = {row["overlap"]: row for row in report["training"]}
    assert set(training) == {True, False}
    for row in training.values():
        assert row["episodes_timed"] == 1 and row["steps_per_s"] > 0  # the episode after seeds
        assert (
            out / "runs" / ("overlap" if row["overlap"] else "no-overlap") / "results.json"
        ).is_file()

    # the extrapolation, computed again: 500k steps at the overlap run's rate, plus 50
    # evaluations of 30 episodes x 250 steps on each mode, shared by the eval workers
    x = report["extrapolation"]
    training_h = 500_000 / training[True]["steps_per_s"] / 3600
    serial_h = sum(50 * 30 * 250 / rate for rate in env_rates.values()) / 3600
    assert x["training_h"] == pytest.approx(training_h)
    assert x["evaluation_serial_h"] == pytest.approx(serial_h)
    workers = x["eval_workers_per_mode"]
    assert workers >= 1 and x["total_h"] == pytest.approx(training_h + serial_h / workers)

    table = (out / "gpu_check.md").read_text()
    assert table in result.stdout
    for mode in _MODES:
        assert f"dmcgb/CartpoleBalance-{mode}-v0" in table
    assert (
        "| sgqn compiled | bf16 autocast |" in table and "500k steps of the paper preset" in table
    )
