"""DMControl-GB's Distracting Control Suite mode (``distracting_cs``), truly seeded.

Camera pose, colour and DAVIS-video background distractions (Stone et al., 2021, "The
Distracting Control Suite") with the magnitudes, video lists and change rate of
DMControl-GB's adaptation (Hansen & Wang, 2021, ``src/env/distracting_control/``): eight
intensities from 0.025 to 0.5, every distraction changing every second control step.

Unlike the benchmark, whose distraction wrappers draw from unseeded random states (only the
task's initial state follows the env seed), every draw here follows the env seed: an
episode's distractions are a function of (seed, episode number).

Contents:
    settings: INTENSITIES, DOMAINS, UPDATE_PERIOD and distraction_settings(domain, intensity).
    camera, color, background: the three distractions as pure functions of seeded draws.
    Distractions (engine): drives the three on a dm_control physics for an env.
    mode_name, parse_mode_name: the env-id spelling of the mode (``distractingcs0.1``).
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
    "parse_mode_name",
]

MODE = "distractingcs"
"""The mode in env ids; ``distractingcs<intensity>`` fixes the intensity in the id."""


def mode_name(intensity: float | None = None) -> str:
    """The mode as written in env ids: ``distractingcs`` or ``distractingcs0.1``."""
    if intensity is None:
        return MODE
    return f"{MODE}{check_intensity(intensity):g}"


def parse_mode_name(name: str) -> tuple[bool, float | None]:
    """(is it the distracting_cs mode, the intensity its name fixes or None).

    ``"distractingcs"`` -> (True, None); ``"distractingcs0.1"`` -> (True, 0.1); ``"train"`` ->
    (False, None).

    Raises:
        ValueError: ``distractingcs`` followed by something that is not an implemented intensity.
    """
    if not name.startswith(MODE):
        return False, None
    suffix = name[len(MODE) :]
    if not suffix:
        return True, None
    return True, check_intensity(suffix)
