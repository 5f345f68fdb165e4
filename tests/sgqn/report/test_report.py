"""sgqn.report on synthetic run folders (written with sgqn.results): the arithmetic against
numpy, the skip reasons, the published comparison, the written files."""

from __future__ import annotations

import csv
import dataclasses
import json
import math

import numpy as np
import pytest
from PIL import Image

from dmcgb.protocol.results import Evaluation, ModeResult, write_evaluation
from sgqn import report
from sgqn.config import Config
from sgqn.report.curves import learning_curves
from sgqn.report.scores import aggregate_scores

SEED = 12345
_RESOLVED = dict(
    init_steps=100,
    eval_freq=500,
    eval_episodes=3,
    save_freq=500,
    saliency_freq=0,
    batch_size=128,
)
_REPS = 300  # bootstrap resamples in tests (the default 50000 takes seconds per cell)


def _write_run(
    root,
    name,
    *,
    algo="sgqn",
    task="WalkerWalk",
    seed=1,
    episodes,
    steps=(500, 1000),
    finished=True,
    robot=False,
    record=True,
    **config,
):
    """A run folder as sgqn.train writes it: config.json, evals/step*.json, results.json.

    ``episodes`` maps a mode to its per-episode returns at the last step; earlier steps get
    the returns scaled by step / last step (a rising learning curve).
    """
    run = root / name
    run.mkdir(parents=True)
    env = f"dmcgb/{task}-train-v0"
    # A resolved config, as train records it: every preset-set field has its value.
    resolved = {**_RESOLVED, "eval_modes": tuple(episodes), **config}
    cfg = Config(env=env, algo=algo, seed=seed, steps=steps[-1], run_dir=str(run), **resolved)
    if record:
        values = json.loads(json.dumps(dataclasses.asdict(cfg)))
        (run / "config.json").write_text(
            json.dumps({"config": values, "total_steps": steps[-1], "device": "cpu"})
        )
    for step in steps:
        scale = step / steps[-1]
        results = []
        for mode, returns in episodes.items():
            successes = None
            if robot:
                successes = (
                    tuple(bool(r > 25) for r in returns) if scale == 1 else (False,) * len(returns)
                )
            results.append(
                ModeResult(
                    env_id=f"dmcgb/{task}-{mode}-v0",
                    mode=mode,
                    algo=algo,
                    seed=seed,
                    step=step,
                    frames=4 * step,
                    returns=tuple(scale * r for r in returns),
                    successes=successes,
                )
            )
        write_evaluation(
            run, Evaluation(step, tuple(results)), final=finished and step == steps[-1]
        )
    return run


def _episodes(rng, modes=("train", "videoeasy", "videohard"), n=3, scale=800.0):
    return {mode: list(np.round(rng.uniform(0, scale, size=n), 2)) for mode in modes}


def _build(paths, **kw):
    kw.setdefault("reps", _REPS)
    return report.build_report([str(p) for p in paths], **kw)


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def sweep(tmp_path):
    """2 algorithms x 2 tasks x 3 seeds, finished; returns (root, episodes by run key)."""
    rng = np.random.default_rng(SEED)
    written = {}
    for algo in ("sac", "sgqn"):
        for task in ("WalkerWalk", "FingerSpin"):
            for seed in (1, 2, 3):
                episodes = _episodes(rng)
                _write_run(
                    tmp_path / "sweep",
                    f"{task}-{algo}-s{seed}",
                    algo=algo,
                    task=task,
                    seed=seed,
                    episodes=episodes,
                )
                written[(task, algo, seed)] = episodes
    return tmp_path / "sweep", written


@pytest.mark.parametrize("ddof", [0, 1])
def test_cells_are_mean_and_std_over_seeds_of_the_episode_means(sweep, ddof):
    root, written = sweep
    result = _build([root], ddof=ddof)
    assert not result.skipped and len(result.runs) == 12
    assert len(result.cells) == 2 * 2 * 3
    for cell in result.cells:
        per_seed = [np.mean(written[(cell.task, cell.algo, s)][cell.mode]) for s in (1, 2, 3)]
        mean, std = cell.stats(ddof)
        assert cell.seeds == (1, 2, 3) and cell.step == 1000 and cell.frames == 4000
        assert mean == pytest.approx(np.mean(per_seed), abs=1e-9)
        assert std == pytest.approx(np.std(per_seed, ddof=ddof), abs=1e-9)


def test_written_csv_and_markdown(sweep, tmp_path):
    root, written = sweep
    result = _build([root / "*"])  # a glob of run directories works like the parent folder
    files = report.write_report(result, tmp_path / "out")
    rows = _rows(files["cells"])
    assert len(rows) == 12
    row = next(
        r for r in rows if (r["task"], r["mode"], r["algo"]) == ("FingerSpin", "videohard", "sac")
    )
    per_seed = [np.mean(written[("FingerSpin", "sac", s)]["videohard"]) for s in (1, 2, 3)]
    assert float(row["mean"]) == pytest.approx(np.mean(per_seed))
    assert float(row["std"]) == pytest.approx(np.std(per_seed))
    assert (row["seeds"], row["seed_list"], row["step"], row["episodes"]) == (
        "3",
        "1 2 3",
        "1000",
        "3",
    )
    assert row["published_mean"] == ""  # --published was not asked for

    markdown = files["markdown"].read_text()
    assert markdown == report.render_markdown(result)
    lines = markdown.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| mode | task |"))
    assert lines[header] == "| mode | task | sac | sgqn |"
    table_rows = [line.split(" | ")[:2] for line in lines[header + 2 : header + 8]]
    # mode-major, tasks in the paper's order (walker before finger), as in the paper's tables
    assert [(m.strip("| "), t) for m, t in table_rows] == [
        (mode, task)
        for mode in ("train", "videoeasy", "videohard")
        for task in ("WalkerWalk", "FingerSpin")
    ]
    expected = f"{np.mean(per_seed):.0f} ± {np.std(per_seed):.0f} (3)"
    assert f"| videohard | FingerSpin | {expected} |" in markdown
    assert "Ablations" not in markdown  # no ablation-only algorithm in these runs
    assert "![learning curves](curves_return.png)" in markdown
    assert _rows(files["skipped"]) == []


def test_ablation_table_has_the_papers_four_columns(tmp_path):
    rng = np.random.default_rng(SEED)
    for algo in ("sgqn", "sac_ssl", "sac", "svea"):
        _write_run(tmp_path, algo, algo=algo, episodes=_episodes(rng, ("train",)))
    markdown = report.render_markdown(_build([tmp_path]))
    assert "| mode | task | sac | svea | sac_ssl | sgqn |" in markdown
    assert "| mode | task | sac | sac_ssl | sgqn |" in markdown.split("### Ablations")[1]


def test_every_unusable_run_is_reported_with_its_reason(tmp_path):
    rng = np.random.default_rng(SEED)
    root = tmp_path / "runs"
    for seed in (1, 2, 3):
        _write_run(root, f"good-s{seed}", seed=seed, episodes=_episodes(rng))
    bad = {
        "unfinished": _write_run(
            root, "unfinished", seed=4, episodes=_episodes(rng), finished=False
        ),
        "batch": _write_run(root, "batch", seed=5, episodes=_episodes(rng), batch_size=32),
        "mode": _write_run(
            root,
            "mode",
            seed=6,
            episodes=_episodes(rng, ("train", "videohard")),
            eval_modes=("train", "videoeasy", "videohard"),  # asked for, but not in its results
        ),
        "step": _write_run(root, "step", seed=7, episodes=_episodes(rng), steps=(500, 1500)),
        "dup": _write_run(root, "z-duplicate", seed=2, episodes=_episodes(rng)),
        "record": _write_run(root, "no-record", seed=8, episodes=_episodes(rng), record=False),
    }
    bad["corrupt"] = _write_run(root, "corrupt", seed=9, episodes=_episodes(rng))
    (bad["corrupt"] / "results.json").write_text("{not json")
    # allowed to differ: where and on what it ran
    _write_run(root, "other-device", seed=10, episodes=_episodes(rng), device="cuda:1")

    result = _build([root])
    reasons = {s.path.name: s.reason for s in result.skipped}
    assert set(reasons) == {p.name for p in bad.values()}
    assert reasons["unfinished"].startswith(
        "unfinished: no results.json (last evaluation at step 1000"
    )
    assert "hyper-parameters differ: batch_size=32 (others: 128)" in reasons["batch"]
    assert "unlike 6 other run(s) of sgqn on WalkerWalk" in reasons["batch"]
    assert "missing mode(s) ['videoeasy']" in reasons["mode"]
    assert "hyper-parameters differ: total_steps=1500 (others: 1000)" in reasons["step"]
    assert (
        reasons["z-duplicate"] == f"seed 2 of sgqn on WalkerWalk is already in {root / 'good-s2'}"
    )
    assert "no config.json" in reasons["no-record"]
    assert "corrupt" in reasons and "results file" in reasons["corrupt"]
    assert {c.seeds for c in result.cells} == {(1, 2, 3, 10)}

    files = report.write_report(result, tmp_path / "out")
    skipped = {r["run"]: r["reason"] for r in _rows(files["skipped"])}
    assert skipped[str(bad["batch"])] == reasons["batch"]
    markdown = files["markdown"].read_text()
    assert f"| {bad['mode']} | {reasons['mode']} |" in markdown


def test_step_choice_uses_the_periodic_evaluations(tmp_path):
    rng = np.random.default_rng(SEED)
    written = {s: _episodes(rng, ("train",)) for s in (1, 2)}
    for seed, episodes in written.items():
        _write_run(tmp_path, f"s{seed}", seed=seed, episodes=episodes, finished=seed == 1)
    _write_run(tmp_path, "short", seed=3, episodes=_episodes(rng, ("train",)), steps=(400,))
    result = _build([tmp_path], step=500)
    (cell,) = result.cells
    assert cell.step == 500 and cell.seeds == (1, 2)  # an unfinished run has step 500 too
    expected = [0.5 * np.mean(written[s]["train"]) for s in (1, 2)]
    assert cell.stats()[0] == pytest.approx(np.mean(expected))
    (skipped,) = result.skipped
    assert skipped.path.name == "short"
    assert skipped.reason == "no evaluation at step 500 (evaluated at steps 400)"


def test_protocol_differences_between_algorithms_are_noted(tmp_path):
    rng = np.random.default_rng(SEED)
    _write_run(tmp_path, "a", algo="sac", episodes=_episodes(rng, ("train",)))
    _write_run(tmp_path, "b", algo="sgqn", episodes=_episodes(rng, ("train",)), eval_episodes=5)
    result = _build([tmp_path])
    assert not result.skipped and len(result.cells) == 2
    assert result.notes == ["WalkerWalk: the algorithms differ in eval_episodes (sac 3, sgqn 5)"]


def test_published_numbers_beside_ours_with_the_difference(tmp_path):
    returns = {"videohard": [700.0, 760.0], "videoeasy": [900.0, 880.0]}
    for seed, shift in ((1, 0.0), (2, 20.0)):
        episodes = {mode: [r + shift for r in values] for mode, values in returns.items()}
        _write_run(tmp_path, f"s{seed}", seed=seed, episodes=episodes)
    _write_run(
        tmp_path, "reacher", task="ReacherEasy", episodes=_episodes(np.random.default_rng(1))
    )
    result = _build([tmp_path], published=True)
    files = report.write_report(result, tmp_path / "out")
    rows = {(r["task"], r["mode"]): r for r in _rows(files["cells"])}
    hard = rows[("WalkerWalk", "videohard")]
    ours = np.mean([np.mean(returns["videohard"]), np.mean(returns["videohard"]) + 20])
    assert float(hard["mean"]) == pytest.approx(ours)
    assert (float(hard["published_mean"]), float(hard["published_std"])) == (739.0, 21.0)
    assert float(hard["return_diff_from_published"]) == pytest.approx(ours - 739.0)
    assert hard["published_table"] == "1"
    assert rows[("ReacherEasy", "videohard")]["published_mean"] == ""  # none published
    markdown = files["markdown"].read_text()
    assert (
        f"| videohard | WalkerWalk | sgqn | {ours:.0f} ± 10 (2) | 739 ± 21 (Table 1) | "
        f"{ours - 739:+.0f} |" in markdown
    )
    assert "hal-03777742" in markdown
    assert "The 50 cells of the comparison image in the authors' repository agree" in markdown


def _plain_iqm(values):
    values = np.sort(np.asarray(values).ravel())
    cut = int(np.floor(0.25 * len(values)))
    return values[cut : len(values) - cut].mean()


def test_aggregates_are_rliable_iqm_and_mean_of_normalised_scores(sweep):
    root, written = sweep
    result = _build([root])
    cells = [c for c in result.cells if (c.mode, c.algo) == ("videohard", "sgqn")]
    (aggregate,) = aggregate_scores(cells, reps=2000)  # the report's, with more resamples
    reported = next(a for a in result.aggregates if (a.mode, a.algo) == ("videohard", "sgqn"))
    assert (reported.iqm, reported.mean) == (aggregate.iqm, aggregate.mean)
    scores = np.array(
        [
            [np.mean(written[(t, "sgqn", s)]["videohard"]) / 1000 for t in aggregate.tasks]
            for s in (1, 2, 3)
        ]
    )  # (seeds, tasks)
    assert set(aggregate.tasks) == {"WalkerWalk", "FingerSpin"} and aggregate.runs == 6
    assert aggregate.iqm == pytest.approx(_plain_iqm(scores))
    assert aggregate.mean == pytest.approx(scores.mean())
    # an independent stratified bootstrap: resample the seeds within each task
    rng = np.random.default_rng(SEED)
    boot = []
    for _ in range(4000):
        picks = rng.integers(0, 3, size=scores.shape)
        boot.append(_plain_iqm(np.take_along_axis(scores, picks, axis=0)))
    low, high = np.percentile(boot, [2.5, 97.5])
    assert aggregate.iqm_ci[0] <= aggregate.iqm <= aggregate.iqm_ci[1]
    assert aggregate.iqm_ci == pytest.approx((low, high), abs=0.03)
    assert aggregate_scores(cells, reps=2000) == [aggregate]  # seeded: reproducible


def test_unequal_seed_counts_use_the_independent_bootstrap(tmp_path):
    rng = np.random.default_rng(SEED)
    written = {}
    for task, seeds in (("WalkerWalk", (1, 2, 3)), ("FingerSpin", (1, 2))):
        for seed in seeds:
            written[(task, seed)] = _episodes(rng, ("train",))
            _write_run(
                tmp_path, f"{task}{seed}", task=task, seed=seed, episodes=written[(task, seed)]
            )
    (aggregate,) = _build([tmp_path]).aggregates
    pooled = [np.mean(e["train"]) / 1000 for e in written.values()]
    per_task = [
        np.mean([np.mean(e["train"]) / 1000 for (t, _), e in written.items() if t == task])
        for task in ("WalkerWalk", "FingerSpin")
    ]
    assert aggregate.runs == 5
    assert aggregate.iqm == pytest.approx(_plain_iqm(pooled))
    assert aggregate.mean == pytest.approx(np.mean(per_task))
    assert aggregate.iqm_ci[0] <= aggregate.iqm <= aggregate.iqm_ci[1]


def test_robot_runs_report_success_rates(tmp_path):
    modes = ("train", "test1", "test2")
    rng = np.random.default_rng(SEED)
    written = {}
    for seed in (1, 2):
        written[seed] = {m: list(rng.uniform(0, 50, size=10)) for m in modes}
        _write_run(
            tmp_path,
            f"reach{seed}",
            task="RobotReach",
            seed=seed,
            episodes=written[seed],
            robot=True,
        )
    result = _build([tmp_path])
    cell = next(c for c in result.cells if c.mode == "test1")
    rates = [np.mean(np.array(written[s]["test1"]) > 25) for s in (1, 2)]
    assert cell.metric == "success"
    assert cell.stats() == pytest.approx((np.mean(rates), np.std(rates)))
    markdown = report.render_markdown(result)
    assert "## Success rates (robot tasks)" in markdown and "## Returns" not in markdown
    assert (
        f"| test1 | RobotReach | {100 * np.mean(rates):.0f} ± {100 * np.std(rates):.0f}% (2) |"
        in markdown
    )
    aggregate = next(a for a in result.aggregates if a.mode == "test1")
    assert aggregate.metric == "success" and aggregate.mean == pytest.approx(np.mean(rates))


def test_learning_curves_png(sweep, tmp_path):
    root, written = sweep
    result = _build([root])
    curves = learning_curves(result.runs, result.cells)
    curve = curves["return"][("videohard", "WalkerWalk")]["sac"]
    per_seed = np.array(
        [[np.mean(written[("WalkerWalk", "sac", s)]["videohard"])] for s in (1, 2, 3)]
    )
    per_seed = per_seed * np.array([[0.5, 1.0]])  # the synthetic curve at steps 500 and 1000
    assert list(curve.frames) == [2000, 4000] and list(curve.seeds) == [3, 3]
    np.testing.assert_allclose(curve.mean, per_seed.mean(axis=0))
    np.testing.assert_allclose(curve.std, per_seed.std(axis=0))
    files = report.write_report(result, tmp_path / "out")
    with Image.open(files["curves_return"]) as image:
        assert image.format == "PNG"
        width, height = image.size
        assert height > width > 300  # 2 task columns, 3 mode rows
        assert np.asarray(image.convert("L")).std() > 10  # not a blank canvas
    assert "curves_success" not in files


def test_std_with_one_seed_and_ddof_1_is_not_a_number(tmp_path):
    _write_run(tmp_path, "one", episodes={"train": [10.0, 20.0]})
    result = _build([tmp_path], ddof=1)
    mean, std = result.cells[0].stats(1)
    assert mean == 15.0 and math.isnan(std)
    assert "| train | WalkerWalk | 15 ± n/a (1) |" in report.render_markdown(result)


def test_cli_errors_name_the_problem(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        report.cli([str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert "matches no file or folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit):
        report.cli([str(tmp_path / "empty")])
    assert "no run directories" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        report.cli([str(tmp_path), "--ignore", "batchsize"])
    assert "--ignore names no Config field: ['batchsize']" in capsys.readouterr().err
    _write_run(tmp_path / "runs", "unfinished", episodes={"train": [1.0]}, finished=False)
    with pytest.raises(SystemExit) as exit_info:
        report.cli([str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "--reps", "100"])
    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    assert "unfinished: no results.json" in captured.out
    assert "no run could be included" in captured.err


def test_cli_prints_and_writes(sweep, tmp_path, capsys):
    root, _ = sweep
    out = tmp_path / "report"
    report.cli([str(root), "--out", str(out), "--reps", "200", "--published"])
    printed = capsys.readouterr().out
    assert printed.startswith("# sgqn report\n") and "12 runs included, 0 skipped" in printed
    assert (out / "report.md").read_text() in printed
    for name in ("report.md", "cells.csv", "aggregates.csv", "skipped.csv", "curves_return.png"):
        assert (out / name).is_file()


def test_source_eval_reports_the_evaluations_of_sgqn_eval(tmp_path):
    rng = np.random.default_rng(SEED)
    written = {}
    for seed in (1, 2):
        run = _write_run(tmp_path, f"s{seed}", seed=seed, episodes=_episodes(rng, ("train",)))
        written[seed] = list(rng.uniform(0, 900, size=4))
        result = ModeResult(
            "dmcgb/WalkerWalk-colorhard-v0",
            "colorhard",
            "sgqn",
            seed,
            1000,
            4000,
            tuple(written[seed]),
        )
        write_evaluation(run, Evaluation(1000, (result,), source="eval"))
    _write_run(tmp_path, "never-evaluated", seed=3, episodes=_episodes(rng, ("train",)))
    result = _build([tmp_path], source="eval")
    (cell,) = result.cells
    assert (cell.mode, cell.seeds) == ("colorhard", (1, 2))
    assert cell.stats()[0] == pytest.approx(np.mean([np.mean(written[s]) for s in (1, 2)]))
    (skipped,) = result.skipped
    assert skipped.reason == "no evaluation by python -m sgqn.eval (evals/eval_step*.json)"
    assert "from the last evaluation of python -m sgqn.eval (agent step 1000, 4000 frames)" in (
        report.render_markdown(result)
    )


def test_ignore_lets_chosen_fields_differ_between_seeds(tmp_path):
    rng = np.random.default_rng(SEED)
    _write_run(tmp_path, "s1", seed=1, episodes=_episodes(rng, ("train",)))
    _write_run(tmp_path, "s2", seed=2, episodes=_episodes(rng, ("train",)), amp=True)
    (skipped,) = _build([tmp_path]).skipped
    assert "amp=True (others: False)" in skipped.reason
    result = report.main(
        [str(tmp_path), "--ignore", "amp", "--out", str(tmp_path / "out"), "--reps", "100"]
    )
    assert not result.skipped and result.cells[0].seeds == (1, 2)
