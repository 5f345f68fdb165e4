"""The agent of an ``--algo``: SAC plus the additions its row of the algorithm table switches on.

A row of :data:`sgqn.agent.algorithms.ALGORITHMS` says which additions an algorithm has; each
addition is a subclass of :class:`~sgqn.agent.sac.SAC` in a module of its own. The agent class
of a row is SAC with those subclasses mixed in (``svea_soda``: SVEA + SODA; ``sgqn``:
Consistency + AttributionSSL), so two algorithms differ exactly by their additions' modules.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import torch

from sgqn.agent.algorithms import Algorithm
from sgqn.agent.attribution_ssl import AttributionSSL
from sgqn.agent.consistency import Consistency
from sgqn.agent.interfaces import OverlaySource
from sgqn.agent.sac import SAC
from sgqn.agent.soda import SODA
from sgqn.agent.svea import SVEA

if TYPE_CHECKING:
    from sgqn.config import Config

__all__ = ["ADDITIONS", "agent_class", "build_agent"]

# Each flag of an Algorithm row and the SAC subclass that implements it.
ADDITIONS: dict[str, type[SAC]] = {
    "svea": SVEA,
    "soda": SODA,
    "consistency": Consistency,
    "attribution_ssl": AttributionSSL,
}


@functools.cache
def agent_class(algorithm: Algorithm) -> type[SAC]:
    """SAC with the additions ``algorithm`` switches on (SAC itself for sac, drq and rad)."""
    additions = tuple(cls for flag, cls in ADDITIONS.items() if getattr(algorithm, flag))
    if len(additions) <= 1:
        return additions[0] if additions else SAC
    name = "+".join(cls.__name__ for cls in additions)
    return type(name, additions, {"__doc__": f"SAC with {name}."})


def build_agent(
    obs_shape: tuple[int, ...],
    action_shape: tuple[int, ...],
    cfg: Config,
    device: torch.device | str,
    overlay: OverlaySource | None = None,
) -> SAC:
    """The agent of ``cfg.algo`` (see :class:`~sgqn.agent.sac.SAC` for the arguments), its
    networks compiled when ``cfg.compile``.

    Raises:
        ValueError: bad shapes, or an unknown ``cfg.algo``.
    """
    agent = agent_class(cfg.algorithm)(obs_shape, action_shape, cfg, device, overlay)
    if cfg.compile:
        agent.compile()
    return agent
