"""Results files: per-mode statistics, JSON round trips, the finished marker, bad files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dmcgb.protocol.results import (
    Evaluation,
    ModeResult,
    ResultsError,
    is_finished,
    read_evaluation,
    read_evaluations,
    read_final,
    write_evaluation,
)


def _result(mode="videohard", step=100, returns=(1.0, 2.0, 4.0), **kw) -> ModeResult:
    return ModeResult(
        env_id=f"dmcgb/WalkerWalk-{mode}-v0",
        mode=mode,
        algo="sgqn",
        seed=3,
        step=step,
        frames=4 * step,
        returns=tuple(returns),
        **kw,
    )


def test_statistics_match_numpy():
    returns = (812.5, 640.25, 901.0, 77.75, 500.0)
    result = _result(returns=returns)
    assert result.episodes == 5
    assert result.return_mean == pytest.approx(np.mean(returns), abs=1e-12)
    assert result.return_std == pytest.approx(np.std(returns), abs=1e-12)  # ddof=0
    assert result.task == "WalkerWalk"
    assert result.success_rate is None and "success_rate" not in result.summary()


def test_success_rate_is_the_share_of_successful_episodes():
    result = _result(mode="test2", returns=(1, 2, 3, 4), successes=(True, False, True, True))
    assert result.success_rate == 0.75 and result.summary()["success_rate"] == 0.75


def test_per_episode_fields_must_cover_every_episode():
    with pytest.raises(ValueError, match="videos has 2 entries for 3 episodes"):
        _result(videos=(0, 1))
    with pytest.raises(ValueError, match="at least one episode"):
        _result(returns=())


def test_round_trip_through_files_and_the_finished_marker(tmp_path):
    early = Evaluation(100, (_result(step=100, videos=(0, 1, 2)), _result("train", step=100)))
    late = Evaluation(200, (_result(step=200, returns=(5.0,), videos=(0,)),))
    write_evaluation(tmp_path, late)
    write_evaluation(tmp_path, early)
    assert not is_finished(tmp_path) and read_final(tmp_path) is None
    assert read_evaluations(tmp_path) == [early, late]
    assert read_evaluations(tmp_path)[0].mode("train").returns == (1.0, 2.0, 4.0)
    write_evaluation(tmp_path, late, final=True)
    assert is_finished(tmp_path) and read_final(tmp_path) == late
    by_eval = Evaluation(200, late.results, source="eval")
    write_evaluation(tmp_path, by_eval)
    assert read_evaluations(tmp_path) == [early, late]  # sgqn.eval's files are kept apart
    assert read_evaluations(tmp_path, source="eval") == [by_eval]
    assert not list(tmp_path.rglob("*.tmp*"))


def test_files_are_plain_json(tmp_path):
    path = write_evaluation(tmp_path, Evaluation(7, (_result(step=7),)))
    data = json.loads(path.read_text())
    assert data["schema"] == 1 and data["results"][0]["returns"] == [1.0, 2.0, 4.0]


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "cannot read"),
        ('{"schema": 99, "step": 1, "results": []}', "schema 1"),
        ('["a list"]', "schema 1"),
        ('{"schema": 1, "step": 1, "results": [{"mode": "x"}]}', "incomplete"),
    ],
)
def test_a_bad_file_is_a_clear_error_naming_it(tmp_path, content, message):
    path = tmp_path / "evals" / "step00000001.json"
    path.parent.mkdir()
    path.write_text(content)
    with pytest.raises(ResultsError, match=message) as error:
        read_evaluation(path)
    assert str(path) in str(error.value)
