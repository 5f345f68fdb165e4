"""The command lines: presets never overwrite flags, --help, and clean errors (no traceback,
exit status 2, a message naming the problem and the fix) before any set-up."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import pytest
import torch

from dmcgb.protocol.modes import default_modes
from sgqn import eval as sgqn_eval
from sgqn import train
from sgqn.agent.factory import build_agent
from sgqn.config import Config
from sgqn.presets import paper_differences, resolve
from sgqn.report.run_folders import IGNORED_FIELDS
from sgqn.train.checkpoint import save_checkpoint
from sgqn.train.command import GROUP_TITLES
from sgqn.train.flags import field_docs
from sgqn.train.prepare import prepare
from sgqn.train.record import announce
from tests.sgqn.runs import ENV


def _resolved(argv: list[str]) -> Config:
    return resolve(train.parse_args(argv))


# --- presets ---------------------------------------------------------------------------


def test_a_preset_never_overwrites_an_explicit_flag():
    cfg = _resolved(["--preset", "cpu-demo", "--batch-size", "128"])
    assert cfg.batch_size == 128  # the paper's value, given explicitly
    assert (cfg.steps, cfg.init_steps, cfg.eval_episodes) == (100, 50, 1)  # the preset's


def test_flags_equal_to_the_papers_defaults_are_kept_under_the_cpu_demo():
    paper_values = ["--eval-episodes", "30", "--init-steps", "1000", "--eval-freq", "10000"]
    paper_values += ["--eval-modes", "train", "videoeasy", "videohard", "--save-freq", "10000"]
    cfg = _resolved(["--preset", "cpu-demo", "--steps", "20000", *paper_values])
    assert (cfg.eval_episodes, cfg.init_steps, cfg.eval_freq, cfg.save_freq) == (
        30,
        1000,
        10_000,
        10_000,
    )
    assert cfg.eval_modes == ("train", "videoeasy", "videohard")
    assert (cfg.batch_size, cfg.saliency_freq) == (8, 100)  # not given: the preset's


def test_the_same_holds_for_configs_built_in_code():
    cfg = resolve(Config(preset="cpu-demo", batch_size=128, eval_episodes=30))
    assert (cfg.batch_size, cfg.eval_episodes, cfg.steps) == (128, 30, 100)


def test_the_paper_preset_is_the_papers_protocol_and_robot_tasks_evaluate_their_variants():
    paper = resolve(Config(), "paper")
    assert (paper.steps, paper.init_steps, paper.eval_freq, paper.eval_episodes) == (
        500_000,
        1000,
        10_000,
        30,
    )
    assert (paper.batch_size, paper.eval_modes) == (128, ("train", "videoeasy", "videohard"))
    assert paper_differences(paper) == {}
    robot = resolve(Config(env="dmcgb/RobotReach-train-v0", preset="cpu-demo"))
    assert robot.eval_modes == ("train", "test1", "test2", "test3", "test4", "test5")
    assert resolve(Config(frames=8000)).steps == 2000  # --frames / action repeat 4


def test_the_differences_from_the_paper_are_listed_at_start(capsys, tmp_path):
    cfg = _resolved(["--preset", "cpu-demo", "--batch-size", "128", "--seed", "7"])
    differences = paper_differences(cfg)
    assert differences["steps"] == (100, 500_000)
    assert "batch_size" not in differences and "seed" not in differences
    assert differences["eval_modes"] == (
        ("train", "videohard"),
        ("train", "videoeasy", "videohard"),
    )
    announce(cfg, torch.device("cpu"), tmp_path, None)
    out = capsys.readouterr().out
    assert "preset cpu-demo" in out
    assert "steps 100 (paper 500000)" in out and "init_steps 50 (paper 1000)" in out
    assert "batch_size" not in out


def test_overlap_and_compile_say_how_a_run_executes_not_what_it_computes():
    default = _resolved([])
    assert default.overlap and not default.compile
    cfg = _resolved(["--no-overlap", "--compile"])
    assert (cfg.overlap, cfg.compile) == (False, True)
    # never a difference from the paper, and runs that differ by them are averaged together
    assert not {"overlap", "compile"} & set(paper_differences(cfg))
    assert {"overlap", "compile"} <= set(IGNORED_FIELDS)


def test_compile_without_a_cpp_compiler_is_a_clean_error(tmp_path, capsys):
    from torch._inductor import cpp_builder

    # torch's own patch: pytest's monkeypatch leaves torch's config without the field after
    # undoing, which broke every later --compile check in the session
    cpp_builder.cpp_compiler_search.cache_clear()
    try:
        with cpp_builder.config.patch({"cpp.cxx": ("no-such-compiler++",)}):
            argv = [*_TINY_FLAGS, "--compile", "--device", "cpu", "--run-dir", str(tmp_path / "r")]
            err = _cli_error(capsys, train.cli, argv)
    finally:
        cpp_builder.cpp_compiler_search.cache_clear()
    assert "--compile on a CPU needs a C++ compiler" in err and "install g++" in err
    assert not (tmp_path / "r").exists()
    cpp_builder.get_cpp_compiler()  # the compiler is found again afterwards


# --- help ------------------------------------------------------------------------------


def test_help_shows_the_module_command_and_titled_groups(capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.parse_args(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: python -m sgqn.train" in out and "train.py" not in out
    for title in GROUP_TITLES.values():
        assert title in out
    assert "--- SAC" not in out and "--- run" not in out  # no section comment as a field's help
    words = " ".join(out.replace("│", " ").split())  # the help wraps at the terminal's width
    assert (
        "Minibatch size of an update; paper 128. (default from --preset: paper: 128; cpu-demo: 8)"
        in words
    )


def test_every_config_field_has_help_text_and_a_flag(capsys):
    fields = [f.name for f in dataclasses.fields(Config)]
    docs = field_docs(Config)
    assert [f for f in fields if not docs.get(f)] == []
    with pytest.raises(SystemExit):
        train.parse_args(["--help"])
    out = capsys.readouterr().out
    flags = [f for f in fields if f != "extra"]
    assert [f for f in flags if f"--{f.replace('_', '-')}" not in out] == []
    assert "--extra" not in out  # recorded notes, not a flag


def test_eval_help_shows_the_module_command(capsys):
    with pytest.raises(SystemExit):
        sgqn_eval.cli(["--help"])
    assert "usage: python -m sgqn.eval" in capsys.readouterr().out


# --- clean errors ----------------------------------------------------------------------

_TINY_FLAGS = ["--env", ENV, "--steps", "10", "--init-steps", "5"]


def _cli_error(capsys, entry, argv) -> str:
    with pytest.raises(SystemExit) as exit_info:
        entry(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    assert "Traceback" not in err
    return err


def _checkpointed_run(folder: Path, env: str = ENV) -> Path:
    """A run directory with a valid checkpoint of an untrained tiny agent (no training)."""
    cfg = resolve(
        Config(
            env=env,
            algo="sac",
            num_conv_layers=2,
            num_filters=8,
            hidden_dim=32,
            steps=10,
            init_steps=5,
        )
    )
    agent = build_agent((9, 84, 84), (1,), cfg, "cpu")
    save_checkpoint(folder / "checkpoint.pt", agent=agent, cfg=cfg, step=10, action_shape=[1])
    return folder


def _a_file(path: Path) -> Path:
    path.write_text("x")
    return path


def _under_a_file(path: Path) -> Path:
    return _a_file(path) / "run"


def _not_empty(path: Path) -> Path:
    path.mkdir()
    (path / "notes.txt").write_text("x")
    return path


def _holding_a_run(path: Path) -> Path:
    path.mkdir()
    return _checkpointed_run(path)


@pytest.mark.parametrize(
    "make, message",
    [
        (_a_file, "is a file, not a directory"),
        (_under_a_file, "is a file, not a directory"),
        (_not_empty, "is not empty.*notes.txt"),
        (_holding_a_run, "already holds a run; pass --resume"),
    ],
)
def test_a_conflicting_run_directory_fails_before_any_set_up(tmp_path, capsys, make, message):
    run_dir = make(tmp_path / "run")
    err = _cli_error(capsys, train.cli, [*_TINY_FLAGS, "--run-dir", str(run_dir)])
    assert re.search(message, err), err


def test_an_unwritable_run_directory_fails_before_any_set_up(capsys):
    if os.access("/proc/self", os.W_OK):
        pytest.skip("/proc/self is writable here")
    err = _cli_error(capsys, train.cli, [*_TINY_FLAGS, "--run-dir", "/proc/self/sgqn-run"])
    assert "is not writable by this user; pass a --run-dir you can write to" in err


def test_resume_without_a_checkpoint_names_the_fix(tmp_path, capsys):
    err = _cli_error(capsys, train.cli, ["--resume", "--run-dir", str(tmp_path)])
    assert "holds no checkpoint.pt" in err and "drop --resume" in err


def test_a_corrupt_checkpoint_is_a_clean_error_for_resume_and_eval(tmp_path, capsys):
    (tmp_path / "checkpoint.pt").write_bytes(b"\x00" * 100)
    err = _cli_error(capsys, train.cli, ["--resume", "--run-dir", str(tmp_path)])
    assert "is damaged and cannot be read" in err
    err = _cli_error(capsys, sgqn_eval.cli, ["--run", str(tmp_path)])
    assert "is damaged and cannot be read" in err


def test_sgqn_eval_with_a_mode_the_task_lacks(tmp_path, capsys):
    run = _checkpointed_run(tmp_path)
    err = _cli_error(capsys, sgqn_eval.cli, ["--run", str(run), "--modes", "train,test2"])
    assert "CartpoleBalance has no mode 'test2'" in err and "videohard" in err


def test_a_robot_run_is_evaluated_on_its_variants_by_default():
    assert default_modes("dmcgb/RobotPegInBox-train-v0") == (
        "train",
        "test1",
        "test2",
        "test3",
        "test4",
        "test5",
    )
    assert "videohard" in default_modes(ENV)


def test_a_non_pixel_env_is_a_clean_error(tmp_path, capsys):
    err = _cli_error(capsys, train.cli, ["--env", "Pendulum-v1", "--run-dir", str(tmp_path / "r")])
    assert "Pendulum-v1" in err and "sgqn learns from pixels" in err
    assert not (tmp_path / "r").exists()


def test_bad_values_and_unknown_ids_are_clean_errors(tmp_path, capsys):
    err = _cli_error(capsys, train.cli, ["--env", "dmcgb/WalkerWlak-train-v0", "--steps", "10"])
    assert "did you mean 'dmcgb/WalkerWalk-train-v0'" in err
    err = _cli_error(capsys, train.cli, [*_TINY_FLAGS, "--init-steps", "30"])
    assert "--init-steps must be in [0, 10)" in err
    err = _cli_error(capsys, train.cli, [*_TINY_FLAGS, "--eval-modes", "train", "test1"])
    assert "CartpoleBalance has no mode 'test1'" in err
    err = _cli_error(capsys, train.cli, ["--steps", "10", "--frames", "40"])
    assert "either --steps or --frames" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--hidden-dim", "0"], "--hidden-dim must be >= 1, actual value: 0"),
        (["--projection-dim", "0"], "--projection-dim must be >= 1, actual value: 0"),
        (["--num-filters", "0"], "--num-filters must be >= 1, actual value: 0"),
        (["--image-size", "0"], "--image-size must be >= 1, actual value: 0"),
        (["--num-conv-layers", "0"], "--num-conv-layers must be >= 1, actual value: 0"),
        (["--image-size", "20"], "the encoder needs at least 43 pixels"),
        (["--seed", "-1"], "--seed must be in [0, 4294967295], actual value: -1"),
        (["--device", "tpu"], "--device 'tpu' is not a torch device; devices here: cpu"),
        (["--device", "cuda:7"], "--device cuda:7: torch cannot use that device"),
        (["--env", "WalkerWlak"], "did you mean 'WalkerWalk' (dmcgb/WalkerWalk-train-v0)"),
    ],
)
def test_flags_that_would_fail_after_set_up_are_refused_before_it(tmp_path, capsys, argv, message):
    """Each of these once failed after "new run" (or trained a zero-width network to exit 0)."""
    run_dir = tmp_path / "run"
    err = _cli_error(capsys, train.cli, [*_TINY_FLAGS, "--run-dir", str(run_dir), *argv])
    assert message in err and err.strip().count("\n") == 0, err
    assert list(tmp_path.iterdir()) == []


def test_a_short_task_name_trains_on_its_train_distribution(tmp_path):
    """``--env WalkerWalk``, as ``sgqn.sweep --envs`` takes it; the run records the full id."""

    cfg = train.parse_args(["--env", "WalkerWalk", "--run-dir", str(tmp_path / "run")])
    cfg, _, run_dir, _ = prepare(cfg)
    assert cfg.env == "dmcgb/WalkerWalk-train-v0"
    assert cfg.eval_modes == ("train", "videohard")  # the cpu-demo's, for a DMC task
    assert not run_dir.exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--seed", "-1"], "--seed must be in [0, 4294967295], actual value: -1"),
        (["--device", "tpu"], "--device 'tpu' is not a torch device"),
        (["--episodes", "0"], "--episodes must be an integer >= 1, actual value: 0"),
        (["--workers", "0"], "--workers must be an integer >= 1, actual value: 0"),
    ],
)
def test_sgqn_eval_checks_its_flags_with_the_same_rules(tmp_path, capsys, argv, message):
    run = _checkpointed_run(tmp_path)
    before = sorted(p.name for p in run.rglob("*"))
    err = _cli_error(capsys, sgqn_eval.cli, ["--run", str(run), *argv])
    assert message in err and err.strip().count("\n") == 0, err
    assert sorted(p.name for p in run.rglob("*")) == before


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda p: {"format": 2}, "it has no 'agent'"),
        (
            lambda p: {**p, "config": {**p["config"], "batch_size": "lots"}},
            "config.batch_size: expected an integer, actual value: 'lots'",
        ),
    ],
)
def test_an_invalid_checkpoint_payload_is_refused_by_resume_and_eval(
    tmp_path, capsys, edit, message
):
    """Once KeyError/TypeError tracebacks, and sgqn.eval ran the wrong-typed one to exit 0."""
    run = _checkpointed_run(tmp_path)
    path = run / "checkpoint.pt"
    torch.save(edit(torch.load(path, weights_only=True)), path)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    for entry, argv in ((train.cli, ["--resume", "--run-dir"]), (sgqn_eval.cli, ["--run"])):
        err = _cli_error(capsys, entry, [*argv, str(run)])
        assert "is not a valid sgqn checkpoint" in err and message in err, err
        assert err.strip().count("\n") == 0
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
