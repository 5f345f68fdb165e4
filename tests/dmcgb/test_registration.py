"""The id table: every benchmarking task in every mode, and clear errors for the rest."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

import dmcgb
from dmcgb.distracting import INTENSITIES
from dmcgb.env import DMCGBEnv
from dmcgb.errors import UnknownTask
from dmcgb.modes import EPISODE_LENGTH, IMAGE_SIZE
from dmcgb.scene import COLOR_KEYS
from dmcgb.tasks import camera_id, task_name


def test_tasks_are_dm_control_benchmarking():
    from dmcgb.rendering import ensure_gl_backend

    ensure_gl_backend()  # dm_control picks its GL backend on import
    from dm_control import suite

    assert {(t.domain, t.task) for t in dmcgb.TASKS.values()} == set(suite.BENCHMARKING)


def test_paper_tasks_and_names():
    assert dmcgb.PAPER_TASKS == (
        "WalkerWalk",
        "WalkerStand",
        "BallInCupCatch",
        "CartpoleSwingup",
        "FingerSpin",
    )
    assert task_name("ball_in_cup", "catch") == "BallInCupCatch"
    assert task_name("point_mass", "easy") == "PointMassEasy"
    assert set(dmcgb.PAPER_TASKS) <= set(dmcgb.TASKS)


def test_modes_and_cameras():
    distracting = ["distractingcs"] + [f"distractingcs{i:g}" for i in INTENSITIES]
    geometric = [f"{kind}{level}" for kind in ("rotate", "shift", "rotateshift") for level in ("easy", "hard")]
    assert list(dmcgb.MODES) == [
        "train", "coloreasy", "colorhard", "videoeasy", "videohard", *distracting, *geometric
    ]
    assert dmcgb.DISTRACTING_MODES == tuple(distracting)
    assert [dmcgb.MODES[m].kwargs.get("intensity") for m in distracting] == [None, *INTENSITIES]
    assert dmcgb.MODES["videoeasy"].videos == 10
    assert dmcgb.MODES["videohard"].videos == 100
    assert dmcgb.MODES["train"].videos == dmcgb.MODES["colorhard"].videos == 0
    assert camera_id("walker") == 0 and camera_id("quadruped") == 2
    assert IMAGE_SIZE == 84 and EPISODE_LENGTH == 1000
    assert COLOR_KEYS == ("grid_rgb1", "grid_rgb2", "self_rgb", "skybox_rgb")
    assert [m.benchmark_name for m in dmcgb.MODES.values()] == [
        "train", "color_easy", "color_hard", "video_easy", "video_hard", *["distracting_cs"] * 9,
        "rotate_easy", "rotate_hard", "shift_easy", "shift_hard", "rotate_shift_easy", "rotate_shift_hard",
    ]


def test_every_id_is_registered_from_the_registries():
    from dmcgb import robot

    ids = dmcgb.all_env_ids()
    expected = {
        f"dmcgb/{task}-{name}-v0"
        for task, spec in dmcgb.TASKS.items()
        for name, mode in dmcgb.MODES.items()
        if mode.domains is None or spec.domain in mode.domains
    }
    expected |= {
        f"dmcgb/Robot{''.join(p.capitalize() for p in task.split('_'))}-{variant}-v0"
        for task in robot.TASKS
        for variant in robot.ROBOT_VARIANTS
    }
    assert set(ids) == expected and len(ids) == len(expected)
    assert len(ids) >= 28 * 5 + 2 * 6 + 14 * 9
    assert "dmcgb/HopperHop-distractingcs0.1-v0" not in ids
    for id_ in ids:
        spec = gym.spec(id_)
        # The envs cut their episodes themselves (the length depends on action_repeat).
        assert spec.max_episode_steps is None
    assert gym.spec("dmcgb/RobotPegInBox-test5-v0").kwargs == {"task": "peg_in_box", "variant": "test5"}
    assert gym.spec("dmcgb/WalkerWalk-videohard-v0").kwargs == {"task": "WalkerWalk", "mode": "videohard"}
    for mode in dmcgb.MODES.values():
        assert gym.spec(dmcgb.env_id("WalkerWalk", mode.name)).entry_point == mode.entry_point


class CountingEnv(DMCGBEnv):
    """A mode's own env class, as a new mode (e.g. distractingcs) would add one."""

    def __init__(self, task: str, mode: str, strength: float, **kwargs) -> None:
        super().__init__(task, mode, **kwargs)
        self.strength = strength
        self.calls: list[tuple] = []

    def _start_episode(self, seed, episode):
        self.calls.append(("start", seed, episode))

    def _after_control_step(self):
        self.calls.append(("control",))

    def _before_render(self):
        self.calls.append(("render",))

    def _episode_info(self):
        return {"strength": self.strength}


def test_a_new_mode_is_data_plus_its_own_env_class(monkeypatch):
    """How distractingcs and its fixed intensities are added: Modes naming their env class,
    fixed arguments and domains; ids, parsing and the README tables follow."""
    from dmcgb import modes, registration

    entry = f"{__name__}:CountingEnv"
    free = modes.Mode("counting", "train", "a test mode", entry_point=entry, domains=("cartpole",))
    fixed = dataclasses.replace(free, name="counting0.25", kwargs={"strength": 0.25})
    for mode in (free, fixed):
        monkeypatch.setitem(modes.MODES, mode.name, mode)
    ids = registration.all_env_ids()
    cartpole = [t for t, spec in dmcgb.TASKS.items() if spec.domain == "cartpole"]
    assert {i for i in ids if "-counting" in i} == {
        f"dmcgb/{t}-{m}-v0" for t in cartpole for m in ("counting", "counting0.25")
    }
    assert registration.parse_env_id("dmcgb/CartpoleSwingup-counting0.25-v0") == (
        "CartpoleSwingup", "counting0.25"
    )
    with pytest.raises(UnknownTask):
        registration.parse_env_id("dmcgb/WalkerWalk-counting0.25-v0")
    tables = registration.readme_tables()
    cartpole_row = next(line for line in tables.splitlines() if "`CartpoleSwingup`" in line)
    walker_row = next(line for line in tables.splitlines() if "`WalkerWalk`" in line)
    assert "`counting0.25`" in cartpole_row and "counting" not in walker_row
    assert "`WalkerWalk`" not in cartpole_row
    registration.register_envs()
    try:
        env = gym.make("dmcgb/CartpoleSwingup-counting0.25-v0", action_repeat=3, image_size=16)
        inner = env.unwrapped
        assert isinstance(inner, CountingEnv) and inner.strength == 0.25
        _, info = env.reset(seed=5, options={"episode": 4})
        assert info == {"strength": 0.25}
        env.step(np.zeros(1, np.float32))
        assert inner.calls == [("start", 5, 4), ("render",)] + [("control",)] * 3 + [("render",)]
        env.close()
        other = gym.make("dmcgb/CartpoleBalance-counting-v0", strength=2.0, image_size=16)
        assert other.unwrapped.strength == 2.0
        other.close()
        with pytest.raises(UnknownTask, match="defined for the domains"):
            CountingEnv("WalkerWalk", "counting", strength=1.0)
    finally:
        for id_ in [i for i in ids if "-counting" in i]:
            gym.registry.pop(id_, None)


def test_readme_tables_are_the_registries():
    """The README's id and mode tables are written by `python -m dmcgb`."""
    from pathlib import Path

    from dmcgb.registration import readme_tables

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    tables = readme_tables().split("\n\n")
    assert len(tables) == 2  # ids, modes
    for table in tables:
        assert table.strip() + "\n" in readme, "run `python -m dmcgb` and paste its tables"


def test_parse_env_id_round_trip():
    assert dmcgb.parse_env_id("dmcgb/CheetahRun-colorhard-v0") == ("CheetahRun", "colorhard")
    assert dmcgb.env_id("CheetahRun", "colorhard") == "dmcgb/CheetahRun-colorhard-v0"


@pytest.mark.parametrize(
    "bad, suggestion",
    [
        ("dmcgb/WalkerWlak-train-v0", "dmcgb/WalkerWalk-train-v0"),
        ("dmcgb/WalkerWalk-video_hard-v0", "dmcgb/WalkerWalk-videohard-v0"),
        ("dmcgb/WalkerWalk-train-v1", "dmcgb/WalkerWalk-train-v0"),
    ],
)
def test_unknown_id_suggests_and_lists(bad: str, suggestion: str):
    with pytest.raises(UnknownTask) as error:
        dmcgb.make(bad)
    message = str(error.value)
    assert repr(suggestion) in message
    assert "WalkerStand" in message and "videoeasy" in message


def test_unknown_task_or_mode_in_constructor():
    from dmcgb.env import DMCGBEnv

    with pytest.raises(UnknownTask, match="unknown mode 'video_hard'"):
        DMCGBEnv("WalkerWalk", "video_hard")
    with pytest.raises(UnknownTask, match="unknown task"):
        DMCGBEnv("WalkerJog")


def test_module_prefix_make_needs_no_import():
    code = (
        "import gymnasium as gym\n"
        "env = gym.make('dmcgb:dmcgb/CartpoleSwingup-train-v0')\n"
        "obs, _ = env.reset(seed=0)\n"
        "assert obs.shape == (84, 84, 3), obs.shape\n"
        "import sys; assert 'dmcgb' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


def test_the_envs_do_not_import_the_agent_stack(dmcgb_data):
    """`pip install dmcgb-sgqn` without extras has no torch: importing dmcgb and making,
    resetting and stepping its envs (every suite, every kind of mode) must not need it."""
    code = (
        "import sys\n"
        "import gymnasium as gym, numpy as np, dmcgb\n"
        "assert 'torch' not in sys.modules, 'import dmcgb imported torch'\n"
        "for env_id in ('dmcgb/WalkerWalk-videohard-v0', 'dmcgb/CartpoleSwingup-coloreasy-v0',\n"
        "               'dmcgb/RobotPegInBox-test3-v0'):\n"
        "    env = gym.make(env_id, action_repeat=2)\n"
        "    env.reset(seed=0)\n"
        "    env.step(np.zeros(env.action_space.shape, np.float32))\n"
        "    env.close()\n"
        "agent = {'torch', 'tyro', 'matplotlib', 'rliable', 'pandas', 'ray', 'imageio'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in agent))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "[]"
