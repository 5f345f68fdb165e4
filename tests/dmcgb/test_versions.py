"""dmcgb refuses a dm_control that cannot run on the installed MuJoCo, and says what to install."""

from __future__ import annotations

import pytest

from dmcgb import rendering, versions
from dmcgb.env import DMCGBEnv
from dmcgb.errors import MismatchedDependencies


@pytest.fixture(autouse=True)
def _fresh_check():
    versions.check_dm_control_matches_mujoco.cache_clear()
    yield
    versions.check_dm_control_matches_mujoco.cache_clear()


def _pretend_installed(monkeypatch: pytest.MonkeyPatch, dm_control: str, mujoco: str) -> None:
    found = {"dm_control": dm_control, "mujoco": mujoco}
    monkeypatch.setattr(versions, "version", lambda name: found[name])


def test_the_installed_pair_passes_and_dm_control_indexes_the_model():
    versions.check_dm_control_matches_mujoco()
    rendering.ensure_gl_backend()  # before dm_control loads OpenGL, as DMCGBEnv does
    from dm_control import suite

    env = suite.load("cartpole", "swingup")
    # A named lookup goes through dm_control's index of MuJoCo's model fields, which is
    # what breaks on a mismatched pair.
    assert env.physics.named.model.geom_size["floor"].shape == (3,)
    assert env.physics.named.data.qpos["slider"].shape == (1,)


@pytest.mark.parametrize(
    ("dm_control", "mujoco"),
    [("1.0.50", "3.17.0"), ("1.0.52", "4.0.1"), ("1.0.53.dev1", "4.1.0"), ("1.0.45", "3.3.0")],
)
def test_matching_pairs_pass(monkeypatch, dm_control, mujoco):
    _pretend_installed(monkeypatch, dm_control, mujoco)
    versions.check_dm_control_matches_mujoco()


@pytest.mark.parametrize(("dm_control", "mujoco"), [("1.0.50", "4.0.1"), ("1.0.49", "4.0.0rc1")])
def test_dm_control_older_than_1_0_52_on_mujoco_4_is_refused_with_the_fix(
    monkeypatch, dm_control, mujoco
):
    _pretend_installed(monkeypatch, dm_control, mujoco)
    with pytest.raises(MismatchedDependencies) as error:
        versions.check_dm_control_matches_mujoco()
    message = str(error.value)
    assert f"dm_control {dm_control} does not run on MuJoCo {mujoco}" in message
    assert "pip install 'dm_control>=1.0.52'" in message and "'mujoco<4'" in message
    assert "\n" not in message


def test_the_env_refuses_a_mismatched_pair_before_building_the_task(monkeypatch):
    _pretend_installed(monkeypatch, "1.0.50", "4.0.1")
    with pytest.raises(MismatchedDependencies, match="does not run on MuJoCo 4.0.1"):
        DMCGBEnv("CartpoleSwingup", "train")
