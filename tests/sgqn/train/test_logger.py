"""CSV metrics: header once, new columns widen the file, resume drops rows after the checkpoint;
eval.csv is the table of the results files."""

from __future__ import annotations

import csv

from dmcgb.protocol.results import Evaluation, ModeResult
from sgqn.train.logger import CsvLog, Logger


def _read(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_header_is_written_once_and_widened_when_columns_appear(tmp_path):
    log = CsvLog(tmp_path / "m.csv")
    log.write({"step": 1, "episode_return": 2.5})
    log.write({"step": 2, "episode_return": 3.0})
    log.write({"step": 3, "episode_return": 1.0, "critic_loss": 0.5})
    assert _read(tmp_path / "m.csv") == [
        ["step", "episode_return", "critic_loss"],
        ["1", "2.5", ""],
        ["2", "3.0", ""],
        ["3", "1.0", "0.5"],
    ]
    # a new CsvLog on the same file continues it
    CsvLog(tmp_path / "m.csv").write({"step": 4, "critic_loss": 0.25})
    assert _read(tmp_path / "m.csv")[-1] == ["4", "", "0.25"]


def test_truncate_after_drops_rows_logged_after_the_checkpoint(tmp_path):
    log = CsvLog(tmp_path / "m.csv")
    for step in (100, 200, 300):
        log.write({"step": step, "x": step / 10})
    log.truncate_after(200)
    assert [r["step"] for r in log.rows()] == ["100", "200"]


def _evaluation(step: int, returns: tuple[float, ...]) -> Evaluation:
    result = ModeResult("dmcgb/WalkerWalk-train-v0", "train", "sac", 1, step, 4 * step, returns)
    return Evaluation(step, (result,))


def test_logger_writes_train_and_eval_files(tmp_path):
    logger = Logger(tmp_path, total_steps=10, progress=False)
    logger.log_train({"step": 5, "episode_return": 1.5})
    first, second = _evaluation(5, (1.0, 3.0)), _evaluation(10, (4.0, 8.0))
    logger.log_eval(first, [first])
    logger.log_eval(second, [first, second])
    logger.step(10)
    logger.close()
    assert CsvLog(tmp_path / "metrics.csv").rows() == [{"step": "5", "episode_return": "1.5"}]
    rows = CsvLog(tmp_path / "eval.csv").rows()
    assert [
        (r["step"], r["mode"], float(r["return_mean"]), float(r["return_std"])) for r in rows
    ] == [
        ("5", "train", 2.0, 1.0),
        ("10", "train", 6.0, 2.0),
    ]
    # a resumed logger from step 4 forgets the episode logged at step 5
    Logger(tmp_path, total_steps=10, start_step=4, progress=False).close()
    assert CsvLog(tmp_path / "metrics.csv").rows() == []
