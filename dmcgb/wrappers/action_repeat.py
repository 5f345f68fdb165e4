"""Repeat each agent action for several control steps, rendering once."""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

__all__ = ["ActionRepeat"]


class ActionRepeat(gym.Wrapper[np.ndarray, np.ndarray, np.ndarray, np.ndarray]):
    """Apply each action for ``repeat`` control steps and sum the rewards.

    Only the last control step of an agent step renders an observation: the wrapper sets the
    base env's ``defer_render`` flag (dmcgb envs honour it) for the intermediate steps, so a
    video background advances once per agent step, as in DMControl-GB. The repetition stops
    early when an intermediate step terminates or truncates; that step renders.

    Args:
        env: the env to wrap (any Gymnasium env; without ``defer_render`` every step renders).
        repeat: control steps per agent step, at least 1.

    Example:
        >>> import gymnasium as gym, dmcgb
        >>> env = ActionRepeat(gym.make("dmcgb/CartpoleSwingup-train-v0"), repeat=8)
        >>> obs, info = env.reset(seed=0)
        >>> obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        >>> info["control_steps"]
        8

    Change logs:
        v0: initial version.
    """

    def __init__(self, env: gym.Env, repeat: int) -> None:
        if not isinstance(repeat, int) or repeat < 1:
            raise ValueError(f"expected repeat to be an int >= 1, actual value: {repeat!r}")
        super().__init__(env)
        self.repeat = repeat
        self._can_defer = hasattr(env.unwrapped, "defer_render")

    def step(
        self, action: np.ndarray
    ) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        total_reward = 0.0
        base = self.env.unwrapped
        for i in range(self.repeat):
            if self._can_defer:
                base.defer_render = i < self.repeat - 1
            try:
                obs, reward, terminated, truncated, info = self.env.step(action)
            finally:
                if self._can_defer:
                    base.defer_render = False
            total_reward += float(reward)
            if terminated or truncated:
                break
        info = {**info, "control_steps": i + 1}
        return obs, total_reward, terminated, truncated, info
