"""The evaluation envs of a run: one env per mode, in worker processes when cores allow.

With ``workers > 1`` a mode's env is a ``gymnasium.vector.AsyncVectorEnv`` of spawned processes
with autoreset off; each worker is told its own episode index through the reset options
(vector envs hand every worker the same options).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from dmcgb.protocol.envs import make_env
from dmcgb.protocol.modes import eval_env_ids
from dmcgb.registration import GEOMETRIC_MODES, parse_env_id

__all__ = ["EvalEnvs", "default_workers"]

_RESERVED_CORES = 2  # left to the training process (and its overlay decoder)


def default_workers(num_modes: int) -> int:
    """Eval worker processes per mode: the spare cores shared by the modes (1: in-process)."""
    spare = (os.cpu_count() or 1) - _RESERVED_CORES
    return max(1, spare // max(1, num_modes))


class _SlotEnv(gym.Wrapper):
    """A vector worker's env: reset option ``{"episodes": [k per worker]}`` -> ``{"episode": k}``.

    Vector envs hand every worker the same options; this picks the worker's own episode index.
    """

    def __init__(self, env: gym.Env, slot: int) -> None:
        super().__init__(env)
        self.slot = slot

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if options and "episodes" in options:
            episodes = options["episodes"]
            options = {k: v for k, v in options.items() if k != "episodes"}
            options["episode"] = int(episodes[self.slot])
        return self.env.reset(seed=seed, options=options)


def _make_worker_env(env_id, seed, frame_stack, action_repeat, image_size, slot, **kw) -> gym.Env:
    return _SlotEnv(make_env(env_id, seed, frame_stack, action_repeat, image_size, **kw), slot)


def _protocol_kwargs(env_id: str, run_seed: int) -> dict[str, int]:
    """What an env needs to follow the evaluation protocol: a geometric mode fixes its order of
    camera positions with the run seed, so episode i shows the same position at every
    evaluation, and 100 episodes show 100 positions (as videos follow the episode index)."""
    if not env_id.startswith("dmcgb/") or env_id.split("/")[-1].startswith("Robot"):
        return {}
    mode = parse_env_id(env_id)[1]
    return {"camera_order_seed": run_seed} if mode in GEOMETRIC_MODES else {}


@dataclass
class EvalEnvs:
    """The evaluation envs of a run, one (possibly vectorised) env per mode.

    Args:
        env_ids: env id per mode.
        seed: the run seed: the envs' action spaces are seeded from it, and the geometric
            modes' order of camera positions.
        frame_stack, action_repeat, image_size: as for :func:`dmcgb.protocol.envs.make_env`.
        workers: processes per mode; 1 keeps the env in this process.

    Raises:
        dmcgb.errors.MissingData: a mode's data (videos, colours) is not available; each env
            is reset once at construction so that this happens before training starts.
    """

    env_ids: dict[str, str]
    seed: int
    frame_stack: int = 3
    action_repeat: int = 4
    image_size: int = 84
    workers: int = 1
    envs: dict[str, Any] = field(default_factory=dict, init=False)
    _singles: dict[str, gym.Env] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        try:
            for i, (mode, env_id) in enumerate(self.env_ids.items()):
                self.envs[mode] = self._make(env_id, self.seed + 1 + i)
                # Some modes load their data (videos) on reset: fail now, not hours later.
                self.envs[mode].reset(seed=self.seed)
        except BaseException:
            self.close()
            raise

    @classmethod
    def for_task(
        cls,
        train_id: str,
        modes: Sequence[str],
        seed: int,
        episodes: int,
        frame_stack: int,
        action_repeat: int,
        image_size: int = 84,
        workers: int | None = None,
    ) -> EvalEnvs:
        """The eval envs of ``train_id``'s task: ``workers`` processes per mode (default: by
        the cores), at most one per episode."""
        workers = min(workers or default_workers(len(modes)), episodes)
        ids = eval_env_ids(train_id, modes)
        return cls(ids, seed, frame_stack, action_repeat, image_size, workers=workers)

    def _make(self, env_id: str, seed: int) -> Any:
        args = (env_id, seed, self.frame_stack, self.action_repeat, self.image_size)
        kwargs = _protocol_kwargs(env_id, self.seed)
        if self.workers == 1:
            return make_env(*args, **kwargs)
        return gym.vector.AsyncVectorEnv(
            [
                functools.partial(_make_worker_env, *args, slot=j, **kwargs)
                for j in range(self.workers)
            ],
            context="spawn",  # no fork of a process holding CUDA or GL state
            autoreset_mode=gym.vector.AutoresetMode.DISABLED,
        )

    @property
    def modes(self) -> list[str]:
        return list(self.env_ids)

    def single(self, mode: str) -> gym.Env:
        """An in-process env of ``mode`` (figures need one); made on first use if vectorised."""
        env = self.envs[mode]
        if not isinstance(env, gym.vector.VectorEnv):
            return env
        if mode not in self._singles:
            env_id = self.env_ids[mode]
            self._singles[mode] = make_env(
                env_id, self.seed, self.frame_stack, self.action_repeat, self.image_size,
                **_protocol_kwargs(env_id, self.seed),
            )  # fmt: skip
        return self._singles[mode]

    def close(self) -> None:
        for env in [*self.envs.values(), *self._singles.values()]:
            env.close()
        self.envs.clear()
        self._singles.clear()
