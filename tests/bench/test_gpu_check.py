"""bench/gpu_check.py --quick: the GPU check's code, at tiny sizes on the CPU, end to end."""

from __future__ import annotations

import importlib.util
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
    # evaluations of 30 episodes x 250 steps on each mode; with one eval worker per mode (this
    # 2-core machine: no spare core) the modes run one after the other in the training process
    x = report["extrapolation"]
    training_h = 500_000 / training[True]["steps_per_s"] / 3600
    serial_h = sum(50 * 30 * 250 / rate for rate in env_rates.values()) / 3600
    assert x["training_h"] == pytest.approx(training_h)
    assert x["evaluation_serial_h"] == pytest.approx(serial_h)
    if (os.cpu_count() or 1) <= 4:
        assert x["eval_workers_per_mode"] == 1 and x["evaluation_h"] == pytest.approx(serial_h)
    assert x["total_h"] == pytest.approx(training_h + x["evaluation_h"]) and x["assumed"] == []

    table = (out / "gpu_check.md").read_text()
    assert table in result.stdout
    for mode in _MODES:
        assert f"dmcgb/CartpoleBalance-{mode}-v0" in table
    assert (
        "| sgqn compiled | bf16 autocast |" in table and "500k steps of the paper preset" in table
    )


def _gpu_check_module(monkeypatch):
    """bench/gpu_check.py imported as a module (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("gpu_check", _SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "gpu_check", module)  # its dataclass looks itself up
    spec.loader.exec_module(module)
    return module


def test_the_extrapolation_runs_the_modes_side_by_side_over_the_spare_cores(monkeypatch):
    gpu_check = _gpu_check_module(monkeypatch)
    from dmcgb.protocol import mode_envs

    env = {"train": {"steps_per_s": 250.0}, "videoeasy": {"steps_per_s": 125.0}}
    env["videohard"] = {"steps_per_s": 100.0}
    training = [{"overlap": False, "steps_per_s": 50.0}, {"overlap": True, "steps_per_s": 100.0}]
    monkeypatch.setattr(mode_envs, "default_workers", lambda modes: 4)  # a 14-spare-core node
    x = gpu_check.extrapolate(env, training)
    assert x["training_h"] == pytest.approx(500_000 / 100 / 3600)  # the overlap run's rate
    slowest = 50 * 30 * 250 / 100.0  # videohard, s
    assert x["evaluation_h"] == pytest.approx(slowest / 4 / 3600)
    assert x["evaluation_serial_h"] == pytest.approx(375_000 * (1 / 250 + 1 / 125 + 1 / 100) / 3600)
    assert x["assumed"] == []
    # modes without data count at the train mode's rate, named; no train rate, no estimate
    partial = gpu_check.extrapolate({"train": env["train"]}, training)
    assert partial["assumed"] == ["videoeasy", "videohard"]
    assert partial["evaluation_serial_h"] == pytest.approx(3 * 375_000 / 250 / 3600)
    assert gpu_check.extrapolate({"videohard": env["videohard"]}, training) is None
    assert gpu_check.extrapolate(env, training[:1]) is None  # no overlap run
