"""Repeat each agent action for several steps of any env (dmcgb envs do this themselves)."""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym

__all__ = ["ActionRepeat"]


class ActionRepeat(gym.Wrapper):
    """Apply each action for ``repeat`` steps of the wrapped env and sum the rewards.

    The repetition stops early at a step that terminates or truncates. Every inner step
    renders its observation; only the last is returned. dmcgb envs take the repeat as their
    own ``action_repeat`` argument instead (they render once per agent step, advance video
    backgrounds once per agent step and count the episode in agent steps, as the benchmark
    does), so wrapping one is refused.

    Args:
        env: the env to wrap (not a dmcgb env).
        repeat: inner steps per agent step, at least 1.

    Example:
        >>> env = ActionRepeat(gym.make("Pendulum-v1"), repeat=4)
        >>> obs, info = env.reset(seed=0)
        >>> obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        >>> info["inner_steps"]
        4

    Change logs:
        v1: refuses dmcgb envs (use their ``action_repeat`` argument); no longer flips a
            render flag on the wrapped env; ``info["control_steps"]`` is ``info["inner_steps"]``.
        v0: initial version.
    """

    def __init__(self, env: gym.Env, repeat: int) -> None:
        if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
            raise ValueError(f"expected repeat to be an int >= 1, actual value: {repeat!r}")
        if hasattr(env.unwrapped, "action_repeat") and type(env.unwrapped).__module__.startswith(
            "dmcgb."
        ):
            raise ValueError(
                f"{type(env.unwrapped).__name__} repeats actions itself: make it with "
                f"gymnasium.make(id, action_repeat={repeat}) instead of wrapping it in ActionRepeat"
            )
        super().__init__(env)
        self.repeat = repeat

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        total_reward, inner_steps = 0.0, 0
        while inner_steps < self.repeat:
            obs, reward, terminated, truncated, info = self.env.step(action)
            total_reward += float(reward)
            inner_steps += 1
            if terminated or truncated:
                break
        return obs, total_reward, terminated, truncated, {**info, "inner_steps": inner_steps}
