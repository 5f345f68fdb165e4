"""SGQN's self-supervised attribution head (Bertoin et al., NeurIPS 2022): what it adds to SAC.

An attribution head M_theta reads the critic's embedding of a strongly augmented observation
(and the action; ``--aux-augmentation``: a natural-image overlay on DMC tasks, a random
convolution on robot tasks, as the SGQN authors' code) and predicts the critic's binarized saliency mask M_rho of the clean one: binary
cross-entropy, every ``aux_update_freq`` steps, with its own Adam over the head and the
critic's encoder (convs + projection). The mask comes from the updated critic on the same
augmented batch; on steps where the actor also updates, the one forward pass that gives the
mask also gives the conv features the actor reads. ``sac_ssl`` is SAC with the head only (the
paper's Table 2); ``sgqn`` has it with L_C (``consistency``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from sgqn.agent.interfaces import Sampler
from sgqn.agent.losses import attribution_prediction_loss
from sgqn.agent.networks import AttributionHead
from sgqn.agent.sac import SAC
from sgqn.agent.saliency import input_gradient, saliency_mask

__all__ = ["AttributionSSL"]


class AttributionSSL(SAC):
    """SAC plus the attribution head M_theta and its self-supervised step (``sac_ssl``, ``sgqn``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cfg, critic = self.cfg, self.critic
        self.head = AttributionHead.variant(
            cfg.attribution_head,
            cfg.projection_dim,
            self.action_dim,
            critic.encoder.out_shape,
            self.input_shape,
        ).to(self.device)
        # The critic's encoder as the authors' code counts it: the shared convs + its projection.
        encoder = [*critic.encoder.parameters(), *critic.projection.parameters()]
        self._aux_params = [*self.head.parameters(), *encoder]
        self.aux_optimizer = self.adam(self._aux_params, cfg.aux_lr, cfg.aux_beta)
        self._step_mask: Tensor | None = None  # M_rho of this update's batch, once computed

    def features_and_mask(self, obs: Tensor, action: Tensor) -> tuple[Tensor, Tensor]:
        """Conv features of obs (detached) and M_rho from the current critic, in one guided pass
        (its forward values are the ordinary ones)."""
        obs = obs.detach().requires_grad_(True)
        critic = self.critic
        with torch.enable_grad(), self._autocast():
            features = critic.encoder(obs, guided=True)
            q1 = critic.q1_head(critic.projection(features), action, guided=True)
            mask = saliency_mask(input_gradient(q1, obs), self.quantile)
        return features.detach(), mask

    def actor_features(self, obs: Tensor, action: Tensor, step: int) -> Tensor:
        if step % self.cfg.aux_update_freq:
            return super().actor_features(obs, action, step)
        features, self._step_mask = self.features_and_mask(obs, action)
        return features

    def update_auxiliary(
        self, obs: Tensor, action: Tensor, step: int, replay: Sampler | None
    ) -> dict[str, Tensor]:
        metrics = super().update_auxiliary(obs, action, step, replay)
        if step % self.cfg.aux_update_freq == 0:
            mask = self._step_mask
            if mask is None:  # the actor did not update at this step
                mask = self.features_and_mask(obs, action)[1]
            self._step_mask = None
            metrics.update(self.update_attribution_head(obs, action, mask))
        return metrics

    def update_attribution_head(
        self, obs: Tensor, action: Tensor, mask: Tensor
    ) -> dict[str, Tensor]:
        """Predict M_rho(s) from f(strong(s)); one Adam step of the head and the encoder.

        Args:
            obs: (B, C, H, W) float pixels (the augmented batch the mask was computed on).
            action: (B, A).
            mask: (B, C, H, W) M_rho of obs.
        """
        s_tilde = self.strong_augment(obs, self.cfg.task_value("aux_augmentation"))
        with self._autocast():
            embedding = self.critic.projection(self.critic.encoder(s_tilde))
            loss = attribution_prediction_loss(self.head(embedding, action), mask)
        self.aux_optimizer.zero_grad(set_to_none=True)
        loss.backward(inputs=self._aux_params)
        self.aux_optimizer.step()
        return {"aux_loss": loss.detach()}

    # --- inspection --------------------------------------------------------------------------

    def explain(self, obs: np.ndarray | Tensor, action: Tensor | None = None) -> Tensor:
        """Predicted saliency sigmoid(M_theta(f(s), a)) in one forward pass.

        Args:
            obs: (C, H, W) or (B, C, H, W) pixels.
            action: (B, A); default the policy's mean action for obs.

        Returns:
            (B, C, input, input) float probabilities on the agent's device.
        """
        obs = self.view(obs)
        action = self.mean_action(obs) if action is None else action
        return self.predicted_mask(obs, action)

    @torch.no_grad()
    def predicted_mask(self, obs: Tensor, action: Tensor) -> Tensor:
        with self._autocast():
            embedding = self.critic.projection(self.critic.encoder(obs))
            logits = self.head(embedding, action.to(self.device))
        return torch.sigmoid(logits.float())

    def stateful(self) -> dict[str, Any]:
        return {
            **super().stateful(),
            "attribution_head": self.head,
            "aux_optimizer": self.aux_optimizer,
        }
