"""The nine ``--algo`` values as data: what each adds to the paper's SAC, in one table.

Every algorithm is the SAC of the SGQN paper's Table 3
(11-layer encoder, 100-d projection + LayerNorm, 1024-unit heads, batch 128, lr 1e-3, target
momentum 0.05 encoder / 0.01 heads, actor and targets every 2 steps, initial temperature 0.1).
A row of :data:`ALGORITHMS` says what one algorithm adds to it, and
``sgqn.agent.factory`` builds the agent of a row: SAC plus one subclass per addition (the
``svea``, ``soda``, ``consistency`` and ``attribution_ssl`` modules). Comparing two rows is
comparing two algorithms.

Contents:
    Algorithm    one row: base augmentation, SVEA critic, SODA loss, SGQN's two losses, paper.
    ALGORITHMS   ``--algo`` name -> Algorithm.
    ALGOS        the names, in the order of the README's table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Algorithm", "ALGORITHMS", "ALGOS", "Augmentation"]

Augmentation = Literal["none", "shift", "crop"]


@dataclass(frozen=True)
class Algorithm:
    """What one ``--algo`` adds to SAC.

    Attributes:
        augmentation: what every RL loss sees of obs and next_obs: ``none`` (the pixels as
            stored), ``shift`` (DrQ: replicate-pad 4, random crop back, K = M = 1) or ``crop``
            (RAD: render ``image_size + crop_margin``, random-crop ``image_size``; the centre
            crop when acting and evaluating).
        svea: the critic also fits overlay (or random-conv) copies of obs to the targets of
            the clean next_obs, weighted ``svea_alpha`` clean / ``svea_beta`` augmented.
        soda: every ``aux_update_freq`` steps, a BYOL-style loss on its own replay batch: an
            online projector + predictor on an overlaid view matches a momentum target's
            projection of a clean view (both views get ``augmentation``).
        consistency: SGQN's L_C (Q of the saliency-masked obs matches Q of the obs).
        attribution_ssl: SGQN's attribution head, trained to predict the critic's saliency
            mask from an overlaid obs.
        paper: where the algorithm comes from.
    """

    augmentation: Augmentation
    paper: str
    svea: bool = False
    soda: bool = False
    consistency: bool = False
    attribution_ssl: bool = False


_SGQN = "Bertoin et al., NeurIPS 2022 (SGQN)"

# fmt: off
ALGORITHMS: dict[str, Algorithm] = {
    # The DMControl-GB SAC: no augmentation at all (the SGQN paper's Table 1 SAC column).
    "sac": Algorithm("none", "Haarnoja et al., 2018; DMControl-GB's SAC"),
    "drq": Algorithm("shift", "Yarats et al., ICLR 2021 (DrQ, K=M=1)"),
    "rad": Algorithm("crop", "Laskin et al., NeurIPS 2020 (RAD, random crop)"),
    "soda": Algorithm("crop", "Hansen and Wang, ICRA 2021 (SODA)", soda=True),
    "svea": Algorithm("shift", "Hansen, Su and Wang, NeurIPS 2021 (SVEA)", svea=True),
    "svea_soda": Algorithm("shift", "SVEA + SODA (SGQN paper, Appendix F)", svea=True, soda=True),
    # SGQN and its Table 2 ablations; the authors' SGSAC samples with DrQ's shift.
    "sac_consistency": Algorithm("shift", f"{_SGQN}, Table 2: + L_C only", consistency=True),
    "sac_ssl": Algorithm("shift", f"{_SGQN}, Table 2: + attribution SSL only", attribution_ssl=True),
    "sgqn": Algorithm("shift", _SGQN, consistency=True, attribution_ssl=True),
}
# fmt: on

ALGOS: tuple[str, ...] = tuple(ALGORITHMS)
