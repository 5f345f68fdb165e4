"""Finished tiny runs shared by the tests of what a resume checks and how writes fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sgqn.runs import tiny

FINISHED_STEPS = 50  # the sac run's replay chunks end at steps 20, 40 and 50


@pytest.fixture(scope="session")
def finished_runs(tmp_path_factory, env_data_dir) -> Path:
    """``sac/``: a finished tiny sac run of FINISHED_STEPS steps, saved every 20 steps;
    ``sgqn/``: a finished tiny sgqn run of the same task. Copy them before changing them."""
    from sgqn import train

    root = tmp_path_factory.mktemp("finished-runs")
    with pytest.MonkeyPatch.context() as m:
        m.setenv("DMCGB_DATA_DIR", str(env_data_dir))
        m.setenv("DMCGB_OFFLINE", "1")
        common = dict(save_freq=20, eval_freq=25)
        sac = tiny(steps=FINISHED_STEPS, run_dir=str(root / "sac"), **common)
        train.main(sac, progress=False)
        sgqn = tiny(algo="sgqn", steps=25, run_dir=str(root / "sgqn"), **common)
        train.main(sgqn, progress=False)
    return root
