"""SGQN's consistency loss L_C (Bertoin et al., NeurIPS 2022, Eq. 2): what it adds to SAC.

The critic's Q-values of the observation and of the observation masked to its salient pixels
must agree: L = L_Q + consistency_weight * sum_i MSE(Q_i(s), Q_i(M_rho(s) * s)), with the
weight 0.5 on DMC tasks and 1 on robot tasks (the authors' two code bases). The mask M_rho
binarizes the guided-backprop attribution of Q1 at the task's quantile rho, from a guided
forward pass of its own (as in the authors' code), so L_C costs a guided Q1 pass with its
backward and a critic pass on the masked observation. ``sac_consistency`` is SAC with L_C only (the
paper's Table 2); ``sgqn`` has it with the attribution head (``attribution_ssl``).
"""

from __future__ import annotations

from torch import Tensor

from sgqn.agent.losses import consistency_loss
from sgqn.agent.sac import SAC, CriticTerms
from sgqn.agent.saliency import attribution, masked_observation, saliency_mask

__all__ = ["Consistency"]


class Consistency(SAC):
    """SAC whose critic loss adds L_C (``sac_consistency``, ``sgqn``)."""

    def critic_loss(self, obs: Tensor, action: Tensor, target: Tensor) -> CriticTerms:
        """The critic loss of the other parts, + consistency_weight * L_C on the clean obs."""
        terms = super().critic_loss(obs, action, target)
        obs = obs.detach()
        with self._autocast():
            mask = saliency_mask(attribution(self.critic, obs, action), self.quantile)
            masked_q = self.critic(masked_observation(obs, mask), action)
            c_loss = consistency_loss([q.float() for q in masked_q], (terms.q1, terms.q2))
        loss = terms.loss + self.cfg.task_value("consistency_weight") * c_loss
        metrics = {**terms.metrics, "consistency_loss": c_loss.detach()}
        return terms._replace(loss=loss, metrics=metrics)
