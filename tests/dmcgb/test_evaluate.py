"""``dmcgb.evaluate`` and ``python -m dmcgb.evaluate``: any policy scored by the benchmark's
protocol, one run folder per seed, the results files the report reads; bad policies and
arguments refused with what went wrong, and the finished episodes kept."""

from __future__ import annotations

import json
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

import dmcgb
from dmcgb.errors import UnknownTask
from dmcgb.protocol.command import main
from dmcgb.protocol.envs import benchmark_protocol, make_env
from dmcgb.protocol.episodes import EVAL, PolicyError, episode_seed
from dmcgb.protocol.results import read_evaluations, read_final
from dmcgb.protocol.runner import UNFINISHED_NAME, EvaluationError
from tests.dmcgb import policies

TASK = "CartpoleBalance"
_AR = 25  # 40-step episodes (the benchmark's cartpole repeat is 8: tests keep episodes short)


def _returns_alone(policy, mode: str, seed: int, episodes: int) -> list[float]:
    """Episodes run by hand: each from episode_seed(seed, EVAL, mode, i), as the i-th episode."""
    env = make_env(f"dmcgb/{TASK}-{mode}-v0", seed, frame_stack=3, action_repeat=_AR)
    out = []
    try:
        for i in range(episodes):
            obs, _ = env.reset(seed=episode_seed(seed, EVAL, mode, i), options={"episode": i})
            total, done = 0.0, False
            while not done:
                obs, reward, terminated, truncated, _ = env.step(policy(obs))
                total, done = total + float(reward), terminated or truncated
            out.append(total)
    finally:
        env.close()
    return out


def test_a_scripted_policy_is_scored_by_the_protocol_one_folder_per_seed(tmp_path, dmcgb_data):
    folders = dmcgb.evaluate(
        policies.zeros, TASK, "train,videohard", episodes=2, seeds=[1, 2], out=tmp_path,
        name="zeros", action_repeat=_AR,
    )  # fmt: skip
    assert [f.name for f in folders] == ["zeros-CartpoleBalance-s1", "zeros-CartpoleBalance-s2"]
    for seed, folder in zip((1, 2), folders, strict=True):
        final = read_final(folder)
        assert final.source == "eval" and [e.step for e in read_evaluations(folder, "eval")] == [0]
        for mode in ("train", "videohard"):
            result = final.mode(mode)
            assert (result.algo, result.seed, result.env_id) == (
                "zeros", seed, f"dmcgb/{TASK}-{mode}-v0",
            )  # fmt: skip
            if seed == 1:  # (seed 2's episodes are other episodes: other seeds)
                assert list(result.returns) == _returns_alone(policies.zeros, mode, seed, 2)
        assert list(final.mode("videohard").videos) == [1, 2]  # episode i shows video i + 1
        assert (
            list(final.mode("train").returns) != list(read_final(folders[0]).mode("train").returns)
            or seed == 1
        )
        record = json.loads((folder / "config.json").read_text())
        assert record["config"]["algo"] == "zeros" and record["config"]["action_repeat"] == _AR
        assert record["evaluated_by"] == "dmcgb.evaluate"


def test_a_factory_makes_each_seeds_policy(tmp_path):
    folders = dmcgb.evaluate(
        policies.seeded, TASK, ["train"], episodes=1, seeds=[1, 2], out=tmp_path, factory=True,
        action_repeat=_AR,
    )  # fmt: skip
    for seed, folder in zip((1, 2), folders, strict=True):
        got = read_final(folder).mode("train").returns
        assert list(got) == _returns_alone(policies.seeded(seed), "train", seed, 1)


def test_the_benchmarks_frame_stack_and_action_repeat_by_task():
    assert benchmark_protocol("dmcgb/CartpoleSwingup-train-v0") == (3, 8)
    assert benchmark_protocol("dmcgb/FingerSpin-videohard-v0") == (3, 2)
    assert benchmark_protocol("dmcgb/WalkerWalk-train-v0") == (3, 4)
    assert benchmark_protocol("dmcgb/RobotReach-test1-v0") == (1, 1)


def test_a_policy_that_fails_is_named_with_its_episode_and_the_finished_ones_are_kept(tmp_path):
    calls = {"n": 0}
    steps = 1000 // _AR  # agent steps of an episode

    def breaks_in_episode_2(obs):
        calls["n"] += 1
        if calls["n"] > 2 * steps:
            raise RuntimeError("out of fuel")
        return np.zeros(1, dtype=np.float32)

    with pytest.raises(PolicyError) as info:
        dmcgb.evaluate(breaks_in_episode_2, TASK, ["train"], episodes=3, out=tmp_path,
                       name="fragile", action_repeat=_AR)  # fmt: skip
    message = str(info.value)
    assert "train episode 2" in message and "RuntimeError: out of fuel" in message
    kept = json.loads((tmp_path / "fragile-CartpoleBalance-s1" / UNFINISHED_NAME).read_text())
    assert kept["finished"]["train"]["episodes"] == [0, 1]
    assert kept["finished"]["train"]["returns"] == _returns_alone(policies.zeros, "train", 1, 2)
    assert read_final(tmp_path / "fragile-CartpoleBalance-s1") is None


@pytest.mark.parametrize(
    "policy, expected",
    [
        (policies.wrong_shape, r"train episode 0: ValueError: returned array\(\[0\., 0\., 0\.\]"),
        (lambda obs: np.array([np.nan], np.float32), r"train episode 0: the action array\(\[nan\]"),
        (lambda obs: "left", r"train episode 0: ValueError: could not convert string"),
    ],
)
def test_bad_actions_are_refused_with_the_value(policy, expected, tmp_path):
    with pytest.raises(PolicyError, match=expected):
        dmcgb.evaluate(policy, TASK, ["train"], episodes=1, out=tmp_path, action_repeat=_AR)


def test_bad_tasks_modes_and_arguments_name_the_valid_ones(tmp_path):
    with pytest.raises(UnknownTask, match="did you mean"):
        dmcgb.evaluate(policies.zeros, "CartpoleBalanse", out=tmp_path)
    with pytest.raises(UnknownTask, match="no mode 'test1'.*its modes are: train, coloreasy"):
        dmcgb.evaluate(policies.zeros, TASK, "train,test1", out=tmp_path)
    with pytest.raises(EvaluationError, match="episodes must be >= 1"):
        dmcgb.evaluate(policies.zeros, TASK, episodes=0, out=tmp_path)
    with pytest.raises(EvaluationError, match="seeds must be integers >= 0"):
        dmcgb.evaluate(policies.zeros, TASK, seeds=[-1], out=tmp_path)
    with pytest.raises(EvaluationError, match="name must be"):
        dmcgb.evaluate(policies.zeros, TASK, name="../x", out=tmp_path)
    dmcgb.evaluate(policies.zeros, TASK, "train", episodes=1, out=tmp_path, action_repeat=_AR)
    with pytest.raises(EvaluationError, match="holds an evaluation already"):
        dmcgb.evaluate(policies.zeros, TASK, "train", episodes=1, out=tmp_path)


def test_the_command_line(tmp_path, capsys, monkeypatch):
    argv = ["--policy", "tests.dmcgb.policies:zeros", "--task", TASK, "--modes", "train",
            "--episodes", "1", "--seeds", "3", "--out", str(tmp_path), "--name", "z",
            "--action-repeat", str(_AR)]  # fmt: skip
    assert main(argv) == 0
    assert "return mean" in capsys.readouterr().out
    assert read_final(tmp_path / "z-CartpoleBalance-s3").mode("train").seed == 3
    assert main([*argv[:1], "tests.dmcgb.policies:nothing", *argv[2:]]) == 2
    assert "has no attribute 'nothing'" in capsys.readouterr().err
    assert main(["--policy", "no_colon", "--task", TASK]) == 2
    assert "must be package.module:function" in capsys.readouterr().err


def test_the_command_runs_without_torch(tmp_path):
    code = (
        "import sys; sys.modules['torch'] = None\n"  # importing torch would now fail
        "from dmcgb.protocol.command import main\n"
        f"raise SystemExit(main({['--policy', 'tests.dmcgb.policies:zeros', '--task', TASK, '--modes', 'train', '--episodes', '1', '--out', str(tmp_path), '--action-repeat', str(_AR)]!r}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert read_final(tmp_path / "agent-CartpoleBalance-s1") is not None


def test_import_of_the_command_module_keeps_dmcgb_evaluate_callable():
    import dmcgb.evaluate  # noqa: F401  (rebinds dmcgb.evaluate to the module)

    assert callable(dmcgb.evaluate)
    assert gym.spec(f"dmcgb/{TASK}-train-v0") is not None
