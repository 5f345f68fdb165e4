"""The agent's view of an env: one factory, the benchmark's frame stack and action repeat, the
eval env ids, and the HWC -> CHW conversion.

Built in the order the benchmark uses:

1. ``gymnasium.make(env_id, action_repeat=...)``: a dmcgb env repeats the action itself and
   renders one uint8 (H, W, 3) frame per agent step (other envs get
   ``dmcgb.wrappers.ActionRepeat``).
2. ``gymnasium.wrappers.FrameStackObservation``: the last ``frame_stack`` frames, oldest first,
   the reset frame repeated at the start of an episode (the replay buffer does the same).

Observations are (frame_stack, H, W, 3) uint8, Gymnasium's layout; agents that want
(3 * frame_stack, H, W) get it from :func:`to_chw`, the one place that converts.

The benchmark's per-task values (:func:`benchmark_protocol`): DMControl-GB's frame stack 3 and
action repeat 8 for cartpole, 2 for finger, 4 otherwise (Hansen et al.; the SGQN paper trains
every task at 4, its Table 5 at these); the robot tasks frame stack 1 and action repeat 1 (the
SGQN authors' robot code).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

__all__ = ["make_env", "eval_env_id", "to_chw", "benchmark_protocol"]

# DMControl-GB's action repeat by domain (its README and scripts); 4 for the other domains.
_ACTION_REPEAT = {"cartpole": 8, "finger": 2}


def benchmark_protocol(env_id: str) -> tuple[int, int]:
    """(frame stack, action repeat) of the benchmark for the task of ``env_id``."""
    name = env_id.split("/")[-1].split("-")[0]
    if name.startswith("Robot"):
        return 1, 1
    for domain, repeat in _ACTION_REPEAT.items():
        if name.lower().startswith(domain):
            return 3, repeat
    return 3, 4


def make_env(
    env_id: str,
    seed: int,
    frame_stack: int = 3,
    action_repeat: int = 4,
    image_size: int = 84,
    **env_kwargs: object,
) -> gym.Env:
    """Build the wrapped env the agent trains and is evaluated on.

    Args:
        env_id: a registered id, e.g. ``dmcgb/WalkerWalk-train-v0``.
        seed: seeds the action space; pass it to the first ``reset`` too.
        frame_stack: frames per observation.
        action_repeat: control steps per agent step.
        image_size: height and width of the rendered frames.
        **env_kwargs: further arguments of the env (``camera_order_seed`` of the geometric
            modes).

    Returns:
        An env whose observations are uint8 (frame_stack, H, W, 3).

    Raises:
        ValueError: a non-positive frame_stack or action_repeat.
        gymnasium.error.Error: the registry's error for an unknown id.
    """
    if frame_stack < 1:
        raise ValueError(f"frame_stack must be >= 1, actual value: {frame_stack}")
    if action_repeat < 1:
        raise ValueError(f"action_repeat must be >= 1, actual value: {action_repeat}")
    from dmcgb.wrappers import ActionRepeat

    is_dmcgb = env_id.startswith("dmcgb/")
    kwargs: dict[str, object] = {"action_repeat": action_repeat} if is_dmcgb else {}
    kwargs.update(env_kwargs)
    if image_size != 84:
        kwargs["image_size"] = image_size
    env = gym.make(env_id, **kwargs)
    shape = env.observation_space.shape
    if shape is None or len(shape) != 3 or shape[-1] != 3:
        env.close()
        raise ValueError(
            f"{env_id!r} must observe RGB frames of shape (H, W, 3), actual shape: {shape}"
        )
    if action_repeat > 1 and not is_dmcgb:
        env = ActionRepeat(env, action_repeat)
    env = gym.wrappers.FrameStackObservation(env, stack_size=frame_stack)
    env.action_space.seed(seed)
    return env


def eval_env_id(train_id: str, mode: str) -> str:
    """The id of ``train_id``'s task under test distribution ``mode``.

    ``eval_env_id("dmcgb/WalkerWalk-train-v0", "videohard") == "dmcgb/WalkerWalk-videohard-v0"``.
    Ids outside dmcgb are returned unchanged for mode ``train``.

    Raises:
        ValueError: ``mode`` is not ``train`` and ``train_id`` is not a dmcgb id.
    """
    if not train_id.startswith("dmcgb/"):
        if mode == "train":
            return train_id
        raise ValueError(
            f"only dmcgb/... envs have test distributions; {train_id!r} cannot be evaluated in "
            f"mode {mode!r} (use --eval-modes train)"
        )
    from dmcgb.registration import env_id, parse_env_id

    task, _ = parse_env_id(train_id)
    return env_id(task, mode)


def to_chw(obs: np.ndarray) -> np.ndarray:
    """Frame stack (k, H, W, 3) -> (3k, H, W), channels of the oldest frame first.

    A batch (N, k, H, W, 3) becomes (N, 3k, H, W); a single frame (H, W, 3) becomes (3, H, W).
    The result is contiguous.
    """
    obs = np.asarray(obs)
    if obs.ndim == 3:
        obs = obs[None]
    if obs.ndim not in (4, 5) or obs.shape[-1] != 3:
        raise ValueError(f"expected frames of shape ([N,] k, H, W, 3), actual shape: {obs.shape}")
    *lead, k, h, w, _ = obs.shape
    chw = np.moveaxis(obs, -1, -3)  # (..., k, 3, H, W)
    return np.ascontiguousarray(chw.reshape(*lead, 3 * k, h, w))
