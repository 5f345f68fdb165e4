"""End to end: a tiny run in-process, what its directory holds, and ``sgqn.eval`` on it."""

from __future__ import annotations

import functools
import http.server
import threading

import gymnasium as gym
import pytest

from dmcgb.errors import MissingData
from dmcgb.protocol.results import FINAL_NAME, read_evaluation, read_evaluations, read_final
from sgqn import eval as sgqn_eval
from sgqn import train
from sgqn.train.checkpoint import load_checkpoint
from tests.conftest import SEED
from tests.sgqn.runs import csv_rows, json_file, tiny

_STEPS, _EVAL_FREQ, _EPISODES = 60, 30, 2


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, env_data_dir):
    """A finished sgqn run with evaluations on train and videohard at steps 30 and 60."""
    run = tmp_path_factory.mktemp("smoke") / "run"
    with pytest.MonkeyPatch.context() as m:
        m.setenv("DMCGB_DATA_DIR", str(env_data_dir))
        m.setenv("DMCGB_OFFLINE", "1")
        cfg = tiny(
            algo="sgqn",
            seed=SEED,
            steps=_STEPS,
            eval_freq=_EVAL_FREQ,
            eval_episodes=_EPISODES,
            eval_modes=("train", "videohard"),
            save_freq=30,
            saliency_freq=_STEPS,
            run_dir=str(run),
        )
        assert train.main(cfg, progress=False) == run
    return run


def _benchmark_videos(env_id: str, episodes: int) -> list[int]:
    """The benchmark's protocol: one env, seeded once, reset again and again."""
    env = gym.make(env_id)
    try:
        videos = [env.reset(seed=SEED)[1]["video_index"]]
        return videos + [env.reset()[1]["video_index"] for _ in range(episodes - 1)]
    finally:
        env.close()


def test_the_run_directory_holds_the_record_metrics_results_and_figures(run_dir):
    record = json_file(run_dir / "config.json")
    assert record["preset"] == "cpu-demo" and record["config"]["batch_size"] == 8
    assert record["differs_from_paper"]["batch_size"] == {"value": 8, "paper": 128}
    assert "seed" not in record["differs_from_paper"]  # a run field, not the protocol
    assert record["total_frames"] == _STEPS * 25 and record["git_revision"]
    assert record["torch_threads"] >= 1 and "overlay" in record["config"]["extra"]

    episodes = csv_rows(run_dir / "metrics.csv")
    assert [int(r["step"]) for r in episodes] == [40]  # 40-step episodes
    assert float(episodes[0]["critic_loss"]) >= 0

    evaluations = read_evaluations(run_dir)
    assert [e.step for e in evaluations] == [30, 60]
    for evaluation in evaluations:
        assert evaluation.modes == ["train", "videohard"] and evaluation.source == "train"
        for result in evaluation.results:
            assert result.episodes == _EPISODES and result.frames == 25 * evaluation.step
            assert result.env_id == f"dmcgb/CartpoleBalance-{result.mode}-v0"
            assert result.successes is None and result.colors is None
            assert (result.videos is None) == (result.mode == "train")
    # eval.csv is the table of the results files
    rows = csv_rows(run_dir / "eval.csv")
    assert [(int(r["step"]), r["mode"]) for r in rows] == [
        (30, "train"),
        (30, "videohard"),
        (60, "train"),
        (60, "videohard"),
    ]
    expected = [r.return_mean for e in evaluations for r in e.results]
    assert [float(r["return_mean"]) for r in rows] == pytest.approx(expected, rel=1e-12)

    # results.json is the final evaluation, written after the final checkpoint
    assert read_final(run_dir) == evaluations[-1]
    checkpoint = run_dir / "checkpoint.pt"
    assert (run_dir / FINAL_NAME).stat().st_mtime_ns >= checkpoint.stat().st_mtime_ns
    state = load_checkpoint(checkpoint)
    assert state["step"] == _STEPS and state["replay"]["num_added"] == _STEPS
    # the protocol: init_steps updates at step init_steps, then one per agent step
    assert state["updates"] == 20 + (_STEPS - 20 - 1)
    critic = state["agent"]["critic_optimizer"]["state"][0]["step"]
    assert int(critic) == state["updates"]
    assert (run_dir / "saliency" / f"step{_STEPS:08d}.png").stat().st_size > 10_000


def test_periodic_evaluations_show_the_benchmarks_video_sequence(run_dir, dmcgb_data):
    expected = _benchmark_videos("dmcgb/CartpoleBalance-videohard-v0", _EPISODES)
    for evaluation in read_evaluations(run_dir):
        assert list(evaluation.mode("videohard").videos) == expected


@pytest.fixture(scope="module")
def evaluated(run_dir, env_data_dir):
    """sgqn.eval on the run: 3 episodes of train and videohard, with the saliency figure."""
    with pytest.MonkeyPatch.context() as m:
        m.setenv("DMCGB_DATA_DIR", str(env_data_dir))
        m.setenv("DMCGB_OFFLINE", "1")
        return sgqn_eval.main(
            run_dir, modes="train,videohard", episodes=3, saliency=True, progress=False
        )


def test_sgqn_eval_writes_its_own_results_file_and_figure(run_dir, evaluated, capsys):
    assert evaluated.step == _STEPS and evaluated.source == "eval"
    assert read_evaluation(run_dir / "evals" / f"eval_step{_STEPS:08d}.json") == evaluated
    assert [e.step for e in read_evaluations(run_dir)] == [30, 60]  # training's, untouched
    # the run seed's episodes: the first two are the ones training evaluated at the same step
    final = read_final(run_dir)
    for mode in ("train", "videohard"):
        returns = evaluated.mode(mode).returns
        assert len(returns) == 3
        assert returns[:2] == pytest.approx(final.mode(mode).returns, rel=1e-5)
    assert (run_dir / "saliency" / f"eval_step{_STEPS:08d}.png").is_file()


def test_sgqn_eval_shows_the_benchmarks_video_sequence(evaluated, dmcgb_data):
    expected = _benchmark_videos("dmcgb/CartpoleBalance-videohard-v0", 3)
    assert list(evaluated.mode("videohard").videos) == expected


def test_a_robot_run_evaluates_its_variants_with_success_rates(tmp_path):
    run = tmp_path / "robot"
    cfg = tiny(
        env="dmcgb/RobotReach-train-v0",
        action_repeat=1,
        init_steps=5,
        steps=10,
        eval_freq=10,
        eval_modes=None,  # the default: the task's variants
        run_dir=str(run),
    )
    train.main(cfg, progress=False)
    variants = ["train", "test1", "test2", "test3", "test4", "test5"]
    final = read_final(run)
    assert final.modes == variants
    for result in final.results:
        assert result.successes is not None and result.success_rate in (0.0, 1.0)
    assert "success_rate" in csv_rows(run / "eval.csv")[0]
    # (sgqn.eval's default modes for a robot run: tests/sgqn/train/test_cli.py)


def test_offline_the_cpu_demo_evaluates_what_it_has_and_says_how_to_fetch_the_rest(
    tmp_path, monkeypatch, capfd
):
    monkeypatch.setenv("DMCGB_DATA_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("DMCGB_OFFLINE", "1")
    run = tmp_path / "run"
    cfg = tiny(preset="cpu-demo", eval_modes=None, steps=30, eval_freq=30, run_dir=str(run))
    train.main(cfg, progress=True)
    out, err = capfd.readouterr()
    assert "skipping the videohard evaluation" in out
    assert "python -m dmcgb.data fetch video_hard" in out
    assert read_final(run).modes == ["train"]
    assert json_file(run / "config.json")["config"]["extra"]["skipped_eval_modes"] == "videohard"
    # the seed updates and the evaluation have their own bars under the training bar (tqdm
    # redraws them at most once a second, so a short test sees them start)
    assert "seed updates:   0%|          | 0/20" in err
    assert "evaluating step 30: 0step" in err and "0/1 episodes" in err


def test_offline_explicit_eval_modes_without_data_fail_before_training(tmp_path, monkeypatch):
    monkeypatch.setenv("DMCGB_DATA_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("DMCGB_OFFLINE", "1")
    run = tmp_path / "run"
    cfg = tiny(preset="cpu-demo", eval_modes=("train", "videohard"), steps=30, run_dir=str(run))
    with pytest.raises(MissingData, match="python -m dmcgb.data fetch video_hard"):
        train.main(cfg, progress=False)
    assert not run.exists()


def test_the_eval_data_is_fetched_before_training_from_a_mirror(
    tmp_path, monkeypatch, shared_data, capfd
):
    """What the README's main command does on a fresh machine, against a local mirror."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(shared_data))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("DMCGB_DATA_DIR", str(tmp_path / "cache"))
        monkeypatch.setenv("DMCGB_MIRROR", f"http://127.0.0.1:{server.server_port}")
        monkeypatch.delenv("DMCGB_OFFLINE", raising=False)
        run = tmp_path / "run"
        cfg = tiny(eval_modes=("videohard",), steps=25, eval_freq=25, run_dir=str(run))
        train.main(cfg, progress=False)
    finally:
        server.shutdown()
        thread.join()
    out, _ = capfd.readouterr()
    megabytes = sum(p.stat().st_size for p in (shared_data / "video_hard").glob("*.mp4")) / 1e6
    assert f"fetching the videohard data (video_hard: 100 files, {megabytes:.0f} MB)" in out
    assert len(list((tmp_path / "cache" / "video_hard").glob("*.mp4"))) == 100
    assert read_final(run).modes == ["videohard"]
