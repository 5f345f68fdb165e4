"""DistractingEnv: a DMCGBEnv in a distractingcs mode (the entry point of those ids).

It drives the ``Distractions`` engine through DMCGBEnv's hooks: at the start of episode k it
draws the episode's distractions from (seed, k), after every control step it counts towards
the next change, and before every render it puts the camera pose and the DAVIS frame in place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from dmcgb import data
from dmcgb.distracting.background import video_names
from dmcgb.distracting.engine import Distractions
from dmcgb.distracting.settings import INTENSITIES, check_intensity
from dmcgb.env import DMCGBEnv
from dmcgb.modes import MODES
from dmcgb.registration import DISTRACTING_MODES
from dmcgb.tasks import TASKS

__all__ = ["DistractingEnv"]

class DistractingEnv(DMCGBEnv):
    """DMControl-GB's Distracting Control Suite mode, truly seeded.

    Args:
        task: a task of the suite's domains (``dmcgb.DISTRACTING_TASKS``).
        mode: ``distractingcs`` (then ``intensity`` is required) or ``distractingcs<intensity>``.
        intensity: one of ``dmcgb.distracting.INTENSITIES``.
        davis_dir: a DAVIS 2017 folder (holding ``JPEGImages/480p``) to use instead of the data
            cache (``python -m dmcgb.data fetch davis``, fetched at the first reset otherwise).
        davis_videos: ``"train"`` (the benchmark's) or ``"val"`` DAVIS sequence list.
        **kwargs: DMCGBEnv's (``action_repeat``, ``image_size``, ``render_mode``, ...).

    Example:
        >>> import gymnasium as gym, dmcgb
        >>> env = gym.make("dmcgb/WalkerWalk-distractingcs0.1-v0", action_repeat=4)
        >>> obs, info = env.reset(seed=0)
        >>> sorted(info)
        ['davis_video', 'video_frame', 'video_index']

    Change logs:
        v0: initial version.
    """

    def __init__(
        self,
        task: str,
        mode: str = "distractingcs",
        intensity: float | None = None,
        davis_dir: str | Path | None = None,
        davis_videos: str = "train",
        **kwargs: Any,
    ) -> None:
        # Arguments first: the dm_control task is not built for a call that cannot work.
        self.intensity = _intensity(task, mode, intensity)
        video_names(davis_videos, self.intensity)  # an unknown list fails here
        super().__init__(task, mode, **kwargs)
        self._davis = (davis_dir, davis_videos)
        self._distractions: Distractions | None = None
        # The seed the episodes follow: fresh entropy until a seeded reset.
        self._distraction_seed = int(np.random.SeedSequence().entropy)

    # ------------------------------------------------------------------ DMCGBEnv's hooks

    def _start_episode(self, seed: int | None, episode: int) -> None:
        if seed is not None:
            self._distraction_seed = seed
        if self._distractions is None:
            davis_dir, videos = self._davis
            folder = Path(davis_dir) if davis_dir is not None else data.davis_dir()
            self._distractions = Distractions(
                self.physics, TASKS[self.task].domain, self.intensity, folder, videos, self._camera_id
            )
        self._distractions.reset(self._distraction_seed, episode)

    def _after_control_step(self) -> None:
        self._require_engine().after_control_step()

    def _before_render(self) -> None:
        self._require_engine().before_render()

    def _episode_info(self) -> dict[str, Any]:
        return self._require_engine().info()

    def _require_engine(self) -> Distractions:
        if self._distractions is None:
            raise gym.error.ResetNeeded("call reset() first: it draws the distractions")
        return self._distractions


def _intensity(task: str, mode: str, intensity: float | None) -> float:
    """The env's intensity: the mode's fixed one or the argument, checked."""
    if mode not in DISTRACTING_MODES:
        raise ValueError(
            f"expected a distractingcs mode in {list(DISTRACTING_MODES)}, actual value: {mode!r}"
        )
    named = MODES[mode].kwargs.get("intensity")
    if intensity is None and named is None:
        raise ValueError(
            f"the distractingcs mode needs an intensity: pass intensity=0.1 (one of "
            f"{', '.join(map(str, INTENSITIES))}) or use an id that names it, e.g. "
            f"dmcgb/{task}-distractingcs0.1-v0"
        )
    if intensity is not None and named is not None and check_intensity(intensity) != named:
        raise ValueError(f"the mode {mode!r} has intensity {named}, but intensity={intensity!r}")
    return check_intensity(intensity if intensity is not None else named)
