"""DMControl-GB's Distracting Control Suite mode (``distracting_cs``), truly seeded.

Camera pose, colour and DAVIS-video background distractions (Stone et al., 2021, "The
Distracting Control Suite") with the magnitudes, video lists and change rate of
DMControl-GB's adaptation (Hansen & Wang, 2021, ``src/env/distracting_control/``): eight
intensities from 0.025 to 0.5, every distraction changing every second control step.

Where this differs from the benchmark's code, on purpose:

- Seeding. The benchmark's three distraction wrappers draw from unseeded ``RandomState``s
  (only the task's initial state follows the env seed), so its distractions differ from run
  to run. Here every draw follows the env seed: an episode's distractions are a function of
  (seed, episode number), drawn from the same distributions in the same way.
- Odd action repeats. The benchmark writes the camera pose only when it changes (even
  control steps), and each physics step restores the stock pose, so after an odd control step
  it renders the undistorted camera. With the benchmark's action repeats (2, 4, 8) it never
  renders there; here every render shows the distracted camera.

Kept as the benchmark has it: DAVIS frames are resized to the 800x800 skybox with
nearest-neighbour sampling (``PIL.Image.resize``'s default in the Pillow 6.2.0 DMControl-GB
pins; newer Pillow would resample bicubically), and the evaluation videos are the train list
(``davis_videos="val"`` gives the Distracting Control Suite paper's held-out list).

Contents:
    settings: INTENSITIES, DOMAINS, UPDATE_PERIOD and distraction_settings(domain, intensity).
    camera, color, background: the three distractions as pure functions of seeded draws.
    Distractions (engine): drives the three on a dm_control physics for an env.
    env.DistractingEnv: the env of the distractingcs ids (``import dmcgb.distracting.env``;
        not imported here, since ``dmcgb.modes`` imports this package).
    mode_name: the env-id spelling of the mode (``distractingcs0.1``).
"""

from __future__ import annotations

from dmcgb.distracting.background import TRAIN_VIDEOS, VAL_VIDEOS, VIDEO_SPLITS
from dmcgb.distracting.engine import Distractions
from dmcgb.distracting.settings import (
    DOMAINS,
    INTENSITIES,
    UPDATE_PERIOD,
    Settings,
    check_intensity,
    distraction_settings,
)

__all__ = [
    "MODE",
    "DOMAINS",
    "INTENSITIES",
    "UPDATE_PERIOD",
    "TRAIN_VIDEOS",
    "VAL_VIDEOS",
    "VIDEO_SPLITS",
    "Distractions",
    "Settings",
    "check_intensity",
    "distraction_settings",
    "mode_name",
]

MODE = "distractingcs"
"""The mode in env ids; ``distractingcs<intensity>`` fixes the intensity in the id."""


def mode_name(intensity: float | None = None) -> str:
    """The mode as written in env ids: ``distractingcs`` or ``distractingcs0.1``."""
    if intensity is None:
        return MODE
    return f"{MODE}{check_intensity(intensity):g}"
