"""``sgqn.report --paper-table N``: the paper's tables in its layout, and which runs pair with
which printed cell. Run folders are written as sgqn.train writes them (config.json, results),
from the paper preset's config with one setting changed where a test needs another protocol."""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest

from dmcgb.protocol.results import Evaluation, ModeResult, write_evaluation
from sgqn.config import Config
from sgqn.presets import resolve
from sgqn.report import command
from sgqn.report.paper_tables import paper_table
from sgqn.report.run_folders import Run, load_run
from sgqn.results.published import load_published

SEED = 12345
PUBLISHED = load_published()


def _run(root, task, algo, seed, returns, *, final=True, **settings) -> Run:
    """A finished run of ``--preset paper`` (with ``settings`` changed), whose evaluation at its
    last step gave ``returns[mode]`` (a list of episode returns) in each mode."""
    cfg = resolve(Config(env=f"dmcgb/{task}-train-v0", algo=algo, seed=seed, **settings), "paper")
    name = f"{task}-{algo}-s{seed}-" + "-".join(f"{k}{v}" for k, v in sorted(settings.items()))
    path = root / name
    path.mkdir(parents=True)
    record = {"config": json.loads(json.dumps(dataclasses.asdict(cfg))), "total_steps": cfg.steps}
    (path / "config.json").write_text(json.dumps(record))
    results = tuple(
        ModeResult(f"dmcgb/{task}-{m}-v0", m, algo, seed, cfg.steps, cfg.steps * 4, tuple(r))
        for m, r in returns.items()
    )
    write_evaluation(path, Evaluation(cfg.steps, results, source="final"), final=final)
    loaded = load_run(path)
    assert isinstance(loaded, Run) or not final
    return loaded


def _returns(rng, modes, scale=900.0, n=4):
    return {m: list(rng.uniform(0, scale, n)) for m in modes}


def _cell(table, row, column, block=""):
    return next(
        c for c in table.cells if (c.row, c.column) == (row, column) and c.block in ("", block)
    )


def test_a_seed_group_of_the_papers_protocol_sits_beside_its_cell(tmp_path):
    rng = np.random.default_rng(SEED)
    runs, means = [], []
    for seed in (1, 2, 3):
        returns = _returns(rng, ("train", "videoeasy", "videohard"))
        runs.append(_run(tmp_path, "WalkerWalk", "sgqn", seed, returns))
        means.append(np.mean(returns["videohard"]))
    table = paper_table(1, PUBLISHED, runs)
    cell = _cell(table, "Walker walk", "SGQN", "video_hard")
    assert (cell.published.mean, cell.published.std) == (739, 21)
    assert cell.ours.paired and cell.ours.seeds == 3
    assert cell.ours.mean == pytest.approx(np.mean(means))
    assert cell.ours.std == pytest.approx(np.std(means))  # population std, the report's default
    assert cell.ours.episodes == 4 and cell.ours.source == "final"
    # other algorithms and tasks have no run
    assert _cell(table, "Walker walk", "SVEA", "video_hard").ours is None


def test_a_run_of_another_protocol_is_marked_and_never_averaged_in(tmp_path):
    rng = np.random.default_rng(SEED)
    paper = [_run(tmp_path, "WalkerWalk", "sgqn", s, _returns(rng, ("videohard",))) for s in (1, 2)]
    short = _run(tmp_path, "WalkerWalk", "sgqn", 3, _returns(rng, ("videohard",)), steps=5000)
    small = _run(tmp_path, "WalkerWalk", "sgqn", 4, _returns(rng, ("videohard",)), batch_size=16)
    cell = _cell(
        paper_table(1, PUBLISHED, [*paper, short, small]), "Walker walk", "SGQN", "video_hard"
    )
    expected = np.mean([r.evaluation.mode("videohard").return_mean for r in paper])
    assert cell.ours.paired and cell.ours.seeds == 2 and cell.ours.mean == pytest.approx(expected)
    alone = paper_table(1, PUBLISHED, [short])
    marked = _cell(alone, "Walker walk", "SGQN", "video_hard").ours
    assert not marked.paired and marked.seeds == 1
    assert marked.differences == ("total_steps 5000 (paper 500000)",)
    text = command.render_paper_table(alone, with_runs=True)
    assert "≠ total_steps 5000 (paper 500000)" in text


def test_table_5_pairs_action_repeat_8_runs_with_the_starred_row_only(tmp_path):
    rng = np.random.default_rng(SEED)
    at8 = [
        _run(tmp_path, "CartpoleSwingup", "svea", s, _returns(rng, ("videoeasy",)), action_repeat=8)
        for s in (1, 2)
    ]
    at4 = [
        _run(tmp_path, "CartpoleSwingup", "svea", s, _returns(rng, ("videoeasy",))) for s in (3, 4)
    ]
    table = paper_table(5, PUBLISHED, [*at8, *at4])
    starred = _cell(table, "Cartpole swingup* (action repeat 8)", "SVEA", "video_easy")
    plain = _cell(table, "Cartpole swingup", "SVEA", "video_easy")
    assert (starred.published.mean, plain.published.mean) == (753, 702)
    mean = lambda runs: np.mean([r.evaluation.mode("videoeasy").return_mean for r in runs])  # noqa: E731
    assert starred.ours.paired and starred.ours.mean == pytest.approx(mean(at8))
    assert plain.ours.paired and plain.ours.mean == pytest.approx(mean(at4))
    # Table 1 knows only the action-repeat-4 protocol: the repeat-8 runs are not its numbers
    only8 = _cell(paper_table(1, PUBLISHED, at8), "Cartpole swingup", "SVEA", "video_easy")
    assert only8.ours.differences == ("action_repeat 8 (paper 4)",)


def test_table_7_pairs_runs_by_their_saliency_quantile(tmp_path):
    rng = np.random.default_rng(SEED)
    default = [
        _run(tmp_path, "BallInCupCatch", "sgqn", s, _returns(rng, ("videohard",))) for s in (1, 2)
    ]
    low = [
        _run(
            tmp_path,
            "BallInCupCatch",
            "sgqn",
            s,
            _returns(rng, ("videohard",)),
            saliency_quantile=0.95,
        )
        for s in (3, 4)
    ]
    table = paper_table(7, PUBLISHED, [*default, *low])
    at98 = _cell(table, "Ball in cup", "video_hard rho 0.98")
    at95 = _cell(table, "Ball in cup", "video_hard rho 0.95")
    assert (at98.published.mean, at95.published.mean) == (782, 789)
    seeds = lambda cell: cell.ours.seeds  # noqa: E731
    assert at98.ours.paired and at95.ours.paired and seeds(at98) == seeds(at95) == 2
    assert at98.ours.mean == pytest.approx(
        np.mean([r.evaluation.mode("videohard").return_mean for r in default])
    )


def test_table_6_needs_the_robot_protocol_and_averages_the_papers_three_scenes(tmp_path):
    rng = np.random.default_rng(SEED)
    modes = ("train", "test1", "test2", "test3", "test4", "test5")
    runs = [
        _run(tmp_path, "RobotReach", "sgqn", s, _returns(rng, modes, scale=40)) for s in (1, 2, 3)
    ]
    assert runs[0].config["frame_stack"] == 1 and runs[0].config["steps"] == 250_000
    table = paper_table(6, PUBLISHED, runs)
    average = _cell(table, "SGQN", "Test average", "Reach")
    per_seed = [
        np.mean([r.evaluation.mode(m).return_mean for m in ("test1", "test2", "test3")])
        for r in runs
    ]
    assert average.published.mean == 24.9 and average.ours.paired
    assert average.ours.mean == pytest.approx(np.mean(per_seed))
    assert average.ours.std == pytest.approx(np.std(per_seed))
    extra = _cell(table, "SGQN", "test5 (ours only)", "Reach")
    assert extra.published is None and extra.ours.paired
    # the DMC protocol (frame stack 3, overlay) on a robot task is not Table 6's
    dmc_like = _run(
        tmp_path,
        "RobotReach",
        "sgqn",
        9,
        _returns(rng, modes),
        frame_stack=3,
        aux_augmentation="overlay",
        overlay_source="places365-train",
    )
    marked = _cell(paper_table(6, PUBLISHED, [dmc_like]), "SGQN", "train", "Reach").ours
    assert "frame_stack 3 (paper 1)" in marked.differences
    assert "aux_augmentation 'overlay' (paper 'conv')" in marked.differences


def test_an_average_row_is_ours_only_when_every_task_is_paired(tmp_path):
    rng = np.random.default_rng(SEED)
    tasks = ("WalkerWalk", "WalkerStand", "BallInCupCatch", "CartpoleSwingup", "FingerSpin")
    runs = {
        t: [_run(tmp_path, t, "sac", s, _returns(rng, ("videoeasy",))) for s in (1, 2)]
        for t in tasks
    }
    every = [r for rs in runs.values() for r in rs]
    average = _cell(paper_table(1, PUBLISHED, every), "Average", "SAC", "video_easy")
    task_means = [
        np.mean([r.evaluation.mode("videoeasy").return_mean for r in rs]) for rs in runs.values()
    ]
    assert average.published.mean == 292 and average.ours.mean == pytest.approx(np.mean(task_means))
    four = [r for t in tasks[:4] for r in runs[t]]
    assert _cell(paper_table(1, PUBLISHED, four), "Average", "SAC", "video_easy").ours is None


def test_table_8_takes_any_action_repeat_and_says_the_paper_states_none(tmp_path):
    rng = np.random.default_rng(SEED)
    runs = [
        _run(tmp_path, "FingerSpin", "svea_soda", s, _returns(rng, ("videohard",)), action_repeat=2)
        for s in (1, 2)
    ]
    table = paper_table(8, PUBLISHED, runs)
    cell = _cell(table, "Finger spin", "SVEA+SODA", "video_hard")
    assert cell.published.mean == 244 and cell.ours.paired
    assert "at action repeat 2 (the paper does not state its own)" in command.render_paper_table(
        table, True
    )


def test_without_runs_the_published_table_is_printed_and_written(tmp_path, capsys):
    command.cli(["--paper-table", "2", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "| Walker walk | 287 ± 165 | 245 ± 165 | 122 ± 47 | 449 ± 100 |" in out
    assert "printed as 82 (a typo" in out and "hal-03777742" in out
    with open(tmp_path / "paper_table_2.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6 * 12 and (tmp_path / "paper_table_2.md").is_file()
    assert {
        r["published_mean"]
        for r in rows
        if r["row"] == "Average" and r["column"] == "SGQN video_easy"
    } == {"82.0"}


def test_all_prints_the_six_tables(tmp_path, capsys):
    tables = command.main(["--paper-table", "all", "--out", str(tmp_path)])
    assert [t.number for t in tables] == [1, 2, 5, 6, 7, 8]
    assert sorted(p.name for p in tmp_path.glob("*.csv")) == [
        f"paper_table_{n}.csv" for n in (1, 2, 5, 6, 7, 8)
    ]
    # every shipped cell appears in exactly one printed position (Table 5 reads Table 1's rows)
    own = [
        c.published
        for t in tables
        for c in t.cells
        if c.published and c.published.table == t.number
    ]
    assert sorted(own, key=repr) == sorted(PUBLISHED.cells, key=repr)


@pytest.mark.parametrize("bad", ["3", "9", "x"])
def test_a_table_that_is_not_a_results_table_is_refused(bad, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        command.cli(["--paper-table", bad, "--out", str(tmp_path)])
    assert exit_.value.code == 2
    assert "1, 2, 5, 6, 7, 8 or all" in capsys.readouterr().err


def test_runs_without_an_evaluation_are_listed_not_crashed_on(tmp_path, capsys):
    rng = np.random.default_rng(SEED)
    _run(tmp_path / "runs", "WalkerWalk", "sgqn", 1, _returns(rng, ("videohard",)), final=False)
    (tmp_path / "runs" / "empty").mkdir()
    (tmp_path / "runs" / "empty" / "config.json").write_text(json.dumps({"config": {}}))
    command.cli(["--paper-table", "1", str(tmp_path / "runs"), "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert "Runs not used:" in out and "unfinished: no results.json" in out
    assert "no run ran the protocol of any cell" in out


def test_table_2_pairs_the_ablations_in_every_mode_including_train(tmp_path):
    rng = np.random.default_rng(SEED)
    modes = ("train", "videoeasy", "videohard")
    runs = [
        _run(tmp_path, "FingerSpin", "sac_consistency", s, _returns(rng, modes)) for s in (1, 2)
    ]
    table = paper_table(2, PUBLISHED, runs)
    for mode, label in zip(modes, ("train", "video_easy", "video_hard"), strict=True):
        cell = _cell(table, "Finger spin", f"SAC+Consistency {label}")
        expected = np.mean([r.evaluation.mode(mode).return_mean for r in runs])
        assert cell.ours.paired and cell.ours.mean == pytest.approx(expected)
    assert _cell(table, "Finger spin", "SAC+Consistency train").published.mean == 392
    # a consistency run with rho 0.98 (not Table 3's 0.95 for finger) is not Table 2's
    other = _run(
        tmp_path, "FingerSpin", "sac_consistency", 3, _returns(rng, modes), saliency_quantile=0.98
    )
    marked = _cell(paper_table(2, PUBLISHED, [other]), "Finger spin", "SAC+Consistency train")
    assert marked.ours.differences == ("saliency_quantile 0.98 (paper 0.95)",)
