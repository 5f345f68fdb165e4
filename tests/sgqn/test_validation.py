"""The one set of checks every command's settings pass before set-up (``sgqn.validation``):
each rule refuses what would fail later, and lets through what works, checked against the
real parts (the encoder, dm_control's models, torch's devices, the env registry)."""

from __future__ import annotations

import pytest
import torch

from sgqn.agent.networks import SharedEncoder
from sgqn.config import Config, ConfigError, check
from sgqn.presets import resolve
from sgqn.validation import (
    DMC_MAX_RENDER_SIZE,
    SEED_LIMIT,
    check_count,
    check_device,
    check_seed,
    check_settings,
    min_image_size,
    training_env_id,
    type_problem,
)


def _refused(**fields) -> str:
    with pytest.raises(ConfigError) as refused:
        check(resolve(Config(**fields), "paper"))
    message = str(refused.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    "field, value",
    [
        ("hidden_dim", 0),
        ("projection_dim", 0),
        ("num_filters", 0),
        ("num_conv_layers", 0),
        ("image_size", 0),
        ("frame_stack", 0),
        ("batch_size", -1),
        ("eval_episodes", 0),
        ("actor_update_freq", 0),
        ("critic_target_update_freq", 0),
        ("soda_batch_size", 0),
        ("threads", 0),
        ("replay_capacity", 0),
        ("shift_pad", -1),
        ("seed", -1),
        ("seed", SEED_LIMIT),
        ("critic_lr", 0.0),
        ("critic_lr", float("nan")),
        ("actor_beta", 1.0),
        ("encoder_tau", 0.0),
        ("discount", 1.5),
        ("init_temperature", float("inf")),
        ("saliency_quantile", 1.0),
        ("batch_size", "lots"),
        ("hidden_dim", True),
        ("algo", "dqn"),
    ],
)
def test_each_flag_is_refused_naming_it_and_its_value(field, value):
    message = _refused(**{field: value})
    assert message.startswith("--" + field.replace("_", "-")), message
    assert repr(value) in message


def test_values_at_the_edges_of_the_ranges_pass():
    edges = dict(seed=0, hidden_dim=1, projection_dim=1, num_filters=1, num_conv_layers=1,
                 image_size=3, shift_pad=0, discount=1.0, encoder_tau=1.0, actor_beta=0.0)  # fmt: skip
    check(resolve(Config(**edges), "paper"))
    check(resolve(Config(seed=SEED_LIMIT - 1), "paper"))


@pytest.mark.parametrize("layers", [1, 2, 11])
def test_the_smallest_image_is_the_smallest_the_encoder_builds(layers):
    smallest = min_image_size(layers)
    encoder = SharedEncoder((9, smallest, smallest), num_layers=layers, num_filters=4)
    assert encoder(torch.zeros(1, 9, smallest, smallest)).shape[-2:] == (1, 1)
    with pytest.raises(ValueError, match="too small"):
        SharedEncoder((9, smallest - 1, smallest - 1), num_layers=layers, num_filters=4)
    check_settings(Config(image_size=smallest, num_conv_layers=layers))
    message = str(_refused(image_size=smallest - 1, num_conv_layers=layers))
    assert f"at least {smallest} pixels" in message


def test_dmc_tasks_render_at_most_what_the_suites_offscreen_buffer_holds():
    from dmcgb.rendering import ensure_gl_backend

    ensure_gl_backend()  # before dm_control picks one
    from dm_control import suite

    model = suite.load("cartpole", "balance").physics.model
    assert DMC_MAX_RENDER_SIZE == min(model.vis.global_.offwidth, model.vis.global_.offheight)
    check_settings(Config(env="dmcgb/CartpoleBalance-train-v0", image_size=DMC_MAX_RENDER_SIZE))
    assert "render at most 480x480" in _refused(image_size=DMC_MAX_RENDER_SIZE + 1)
    # rad renders image_size + crop_margin
    assert "--crop-margin = 486" in _refused(algo="rad", image_size=470)
    # robot tasks enlarge their buffer to the image size
    check_settings(Config(env="dmcgb/RobotReach-train-v0", image_size=DMC_MAX_RENDER_SIZE + 1))


def test_an_overlay_folder_that_does_not_exist_is_refused_for_the_algos_that_use_one(tmp_path):
    missing = str(tmp_path / "no-such-folder")
    assert "does not exist" in _refused(algo="svea", overlay_source=missing)
    check_settings(Config(algo="sac", overlay_source=missing))  # sac blends no images
    check_settings(Config(algo="svea", overlay_source=str(tmp_path)))


def test_steps_and_frames_together_and_log_std_bounds():
    assert "either --steps or --frames" in _refused(steps=10, frames=40)
    message = _refused(actor_log_std_min=2.0, actor_log_std_max=2.0)
    assert "--actor-log-std-min must be below --actor-log-std-max" in message


def test_type_problems_follow_the_field_types():
    assert type_problem(3, int) is None and type_problem(True, int) == "expected an integer"
    assert type_problem(3, float) is None and type_problem("3", float) == "expected a number"
    assert type_problem(["train"], tuple[str, ...]) is None
    assert type_problem([1], tuple[str, ...]) == "expected a string in the list"
    assert type_problem(None, int | None) is None
    assert type_problem({"a": 1}, dict[str, str]) is not None


def test_counts_and_seeds_outside_the_config():
    check_count("--episodes", 1)
    check_count("--workers", None)
    with pytest.raises(ConfigError, match=r"--episodes must be an integer >= 1, actual value: 0"):
        check_count("--episodes", 0)
    check_seed(0)
    with pytest.raises(
        ConfigError, match=r"--seeds must be in \[0, 4294967295\], actual value: -1"
    ):
        check_seed(-1, "--seeds")


def test_devices_are_those_torch_can_use_here():
    assert check_device("cpu") == torch.device("cpu")
    assert check_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="'tpu' is not a torch device; devices here: cpu"):
        check_device("tpu")
    with pytest.raises(ConfigError, match="torch cannot use that device"):
        check_device("meta")
    beyond = f"cuda:{torch.cuda.device_count()}"
    with pytest.raises(ConfigError, match=f"--device {beyond}: torch cannot use"):
        check_device(beyond)
    if torch.cuda.is_available():
        assert check_device("cuda:0") == torch.device("cuda:0")


def test_short_task_names_train_on_the_train_distribution():
    """``WalkerWalk`` is what ``sgqn.sweep --envs`` takes: ``sgqn.train --env`` takes it too,
    and the run records the full id."""
    import gymnasium as gym

    assert training_env_id("WalkerWalk") == "dmcgb/WalkerWalk-train-v0"
    assert training_env_id("RobotReach") == "dmcgb/RobotReach-train-v0"
    assert training_env_id("dmcgb/WalkerWalk-videohard-v0") == "dmcgb/WalkerWalk-videohard-v0"
    assert training_env_id("CartPole-v1") == "CartPole-v1"  # any registered id is kept
    for name in ("WalkerWalk", "RobotReach"):
        assert training_env_id(name) in gym.registry
    with pytest.raises(ConfigError, match=r"did you mean 'WalkerWalk' \(dmcgb/WalkerWalk-train"):
        training_env_id("WalkerWlak")
    with pytest.raises(ConfigError, match="did you mean 'dmcgb/WalkerWalk-videohard-v0'"):
        training_env_id("WalkerWalk-videohard-v0")
