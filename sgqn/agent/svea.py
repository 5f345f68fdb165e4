"""SVEA (Hansen, Su and Wang, NeurIPS 2021): what it adds to SAC.

The critic also fits augmented copies of the observations to the SAME targets, computed from
the clean next observations: L = svea_alpha * L_Q(s) + svea_beta * L_Q(aug(s)). The augmentation
is the overlay of a natural image (the SGQN authors' DMC code) or a random convolution (their
robot code, and DMControl-GB's default): ``--svea-augmentation``. Clean and augmented observations go
through the critic as one batch.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sgqn.agent.losses import critic_loss
from sgqn.agent.sac import SAC, CriticTerms

__all__ = ["SVEA"]


class SVEA(SAC):
    """SAC whose critic also learns from augmented observations (``svea``, ``svea_soda``)."""

    def critic_loss(self, obs: Tensor, action: Tensor, target: Tensor) -> CriticTerms:
        """svea_alpha * L_Q(obs) + svea_beta * L_Q(augmented obs), one critic pass for both."""
        cfg = self.cfg
        inputs = torch.cat([obs, self.svea_augment(obs.detach())])
        with self._autocast():
            q1, q2 = (q.float() for q in self.critic(inputs, torch.cat([action, action])))
            (q1, q1_aug), (q2, q2_aug) = q1.chunk(2), q2.chunk(2)
            td_loss = cfg.svea_alpha * critic_loss(q1, q2, target)
            td_loss = td_loss + cfg.svea_beta * critic_loss(q1_aug, q2_aug, target)
            return self.critic_terms(td_loss, q1, q2)

    def svea_augment(self, obs: Tensor) -> Tensor:
        """SVEA's augmentation of (already base-augmented) obs: overlay or random conv."""
        return self.strong_augment(obs, self.cfg.task_value("svea_augmentation"))
