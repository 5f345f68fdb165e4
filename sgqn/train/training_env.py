"""The training env, stepped on a thread of its own while the agent updates.

In the training loop the action of step t is chosen before step t's updates, and transition t
enters the replay buffer only after them, so no update reads what ``env.step`` is computing:
the two can run at the same time. MuJoCo's simulation, Mesa's or the GPU's rendering and
torch's kernels release the GIL, so on two cores (or with the update on a GPU) they do run
side by side. The run's results are bit-identical to stepping after the updates, provided the
env draws its random numbers from its own generators (dmcgb envs do), not from numpy's or
torch's global ones, which the update draws from.

With overlap the env lives on its worker thread: it is built, reset, stepped and closed
there, because an OpenGL context (dm_control's EGL one among them) is current on one thread
only. Without overlap every call runs on the caller's thread, as a plain env.

Example:
    >>> env = TrainingEnv(lambda: make_env("dmcgb/WalkerWalk-train-v0", seed=1), overlap=True)
    >>> obs = env.reset(seed=1)
    >>> with env.start(action) as pending:  # env.step begins on the worker thread
    ...     agent.update(...)               # meanwhile, on this one
    >>> obs, reward, terminated, truncated = pending.result()
    >>> env.close()
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from types import TracebackType
from typing import Any, NamedTuple, TypeVar

import gymnasium as gym
import numpy as np

from dmcgb.protocol.envs import to_chw

__all__ = ["TrainingEnv", "PendingStep", "StepResult"]

T = TypeVar("T")


class StepResult(NamedTuple):
    """What one agent step of the env returned, as the loop uses it."""

    obs: np.ndarray  # (3k, H, W) uint8
    reward: float
    terminated: bool
    truncated: bool


def _step(env: gym.Env, action: np.ndarray) -> StepResult:
    obs, reward, terminated, truncated, _ = env.step(action)
    return StepResult(to_chw(obs), float(reward), bool(terminated), bool(truncated))


class PendingStep:
    """One env step, running on the worker thread (overlap) or run by :meth:`result`.

    Use it as a context manager around the work it overlaps: leaving the ``with`` block waits
    for the step, so that nothing else reaches the env while it runs. If the block raises (a
    stop, an error in the update), the step is waited for and dropped, its own error included:
    the loop's state is then the one before the step, as without overlap.
    """

    def __init__(self, env: gym.Env, action: np.ndarray, future: Future[StepResult] | None):
        self._env, self._action, self._future = env, action, future

    def __enter__(self) -> PendingStep:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._future is not None:
            wait([self._future])  # never raises the step's error: result() does, or it is dropped

    def result(self) -> StepResult:
        """The step's result (without overlap, the step runs now, after the updates).

        Raises:
            Whatever ``env.step`` raised, as if it had been called here.
        """
        if self._future is None:
            return _step(self._env, self._action)
        return self._future.result()


class TrainingEnv:
    """The training env, on a worker thread of its own when ``overlap``.

    Args:
        make: builds the env (on the worker thread with overlap). Its ``step`` must draw no
            random numbers from numpy's or torch's global generators, for results identical
            to ``overlap=False``.
        overlap: run the env on a worker thread, so that :meth:`start` returns at once.

    Raises:
        Whatever ``make`` raises.
    """

    def __init__(self, make: Callable[[], gym.Env], overlap: bool) -> None:
        self.overlap = overlap
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="env-step") if overlap else None
        self._closed = False
        try:
            self.env = self._call(make)
        except BaseException:
            self._shutdown()
            raise
        self.action_space = self.env.action_space

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """fn(*args, **kwargs) on the env's thread, waiting for it."""
        if self._executor is None:
            return fn(*args, **kwargs)
        return self._executor.submit(fn, *args, **kwargs).result()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> np.ndarray:
        """``env.reset``; returns the first observation, (3k, H, W) uint8."""
        obs, _ = self._call(self.env.reset, seed=seed, options=options)
        return to_chw(obs)

    def step(self, action: np.ndarray) -> StepResult:
        """``env.step``, waiting for it."""
        return self._call(_step, self.env, action)

    def start(self, action: np.ndarray) -> PendingStep:
        """Begin ``env.step(action)`` on the worker thread (see :class:`PendingStep`)."""
        executor = self._executor
        future = None if executor is None else executor.submit(_step, self.env, action)
        return PendingStep(self.env, action, future)

    def close(self) -> None:
        """Close the env on its thread (after a step in flight), then stop the thread."""
        if self._closed:
            return
        self._closed = True
        try:
            self._call(self.env.close)
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
