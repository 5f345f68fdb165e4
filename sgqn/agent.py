"""The SG-SAC agent (SAC + saliency-guided consistency + self-supervised attribution prediction).

Contents:
    Batch          one sampled minibatch (uint8 pixels, float actions/rewards, not_done).
    OverlaySource  protocol of the natural-image pool used for the overlay augmentation.
    SaliencyMaps   attribution, binarized mask and predicted mask, for figures.
    SGSAC          act(), update(), explain(), attribution_maps(), state_dict().

One update (step t) runs, in the authors' order:
    1. critic   (every step): L_Q [+ 0.5 L_C] on randomly shifted obs / next_obs;
    2. saliency (actor or SSL steps): guided-backprop mask of the same shifted obs with the updated
       critic; its forward pass also gives the conv features the actor reads (detached);
    3. actor + temperature (t % actor_update_freq == 0);
    4. targets (t % critic_target_update_freq == 0);
    5. attribution head (t % aux_update_freq == 0, SSL only): BCE of M_theta(f(overlay(s)), a)
       against the mask of step 2.

Work is shared, not repeated: the critic's forward graph on the shifted obs gives both L_Q and (by
a guided backward with the graph retained) the mask for L_C; weight gradients are requested only
for the parameters each optimiser steps; nothing waits for the host (metrics stay tensors).
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

from sgqn.augment import random_overlay, random_shift
from sgqn.config import Config
from sgqn.losses import (
    actor_loss,
    alpha_loss,
    attribution_prediction_loss,
    consistency_loss,
    critic_loss,
    soft_td_target,
)
from sgqn.networks import Actor, AttributionHead, Critic, SharedEncoder
from sgqn.replay import Batch  # the agent consumes the replay buffer's minibatches
from sgqn.saliency import attribution, guided_gradient, masked_observation, saliency_mask

__all__ = ["Batch", "OverlaySource", "SaliencyMaps", "SGSAC"]


@runtime_checkable
class OverlaySource(Protocol):
    """Natural images for the overlay augmentation s~ = (1 - alpha) s + alpha image."""

    def sample(self, n: int) -> Tensor:
        """n images, (n, 3, H, W) uint8, on the agent's device, H and W those of the obs."""
        ...


class SaliencyMaps(NamedTuple):
    """Maps of one batch of observations, each (B, C, H, W) float."""

    attribution: Tensor  # guided backprop of Q1 w.r.t. the pixels
    mask: Tensor  # M_rho, zeros and ones
    predicted: Tensor | None  # sigmoid(M_theta), None without the attribution head


class SGSAC:
    """SAC with saliency-guided Q-networks; `cfg.algo` picks the ablation (Table 2).

    Args:
        obs_shape: (C, H, W), C = 3 * frame_stack, frames oldest to newest.
        action_shape: (A,), actions in [-1, 1].
        cfg: hyper-parameters (see `sgqn.config.Config`).
        device: training device.
        overlay: natural-image source, required when `cfg.use_ssl` (algos `sac_ssl`, `sgqn`).

    Raises:
        ValueError: bad shapes, or self-supervision without an overlay source.
    """

    def __init__(
        self,
        obs_shape: tuple[int, ...],
        action_shape: tuple[int, ...],
        cfg: Config,
        device: torch.device | str,
        overlay: OverlaySource | None = None,
    ):
        obs_shape, action_shape = tuple(obs_shape), tuple(action_shape)
        if len(obs_shape) != 3 or obs_shape[0] % 3:
            raise ValueError(f"expected obs_shape (3 * frames, H, W), actual value: {obs_shape}")
        if len(action_shape) != 1:
            raise ValueError(f"expected action_shape (A,), actual value: {action_shape}")
        if cfg.use_ssl and overlay is None:
            raise ValueError(
                f"algo {cfg.algo!r} trains the attribution head on overlaid images; pass an "
                "overlay source (SGSAC(..., overlay=...)) or use algo 'sac' / 'sac_consistency'"
            )
        self.cfg = cfg
        self.device = torch.device(device)
        self.obs_shape = obs_shape
        self.action_dim = action_shape[0]
        self.overlay = overlay
        self.quantile = cfg.resolved_quantile()
        self.target_entropy = -float(self.action_dim)

        encoder = SharedEncoder(obs_shape, cfg.num_conv_layers, cfg.num_filters)
        self.critic = Critic(encoder, self.action_dim, cfg.projection_dim, cfg.hidden_dim)
        self.critic.to(self.device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor = Actor(
            encoder.out_dim,
            self.action_dim,
            cfg.projection_dim,
            cfg.hidden_dim,
            cfg.actor_log_std_min,
            cfg.actor_log_std_max,
        ).to(self.device)
        self.head: AttributionHead | None = None
        if cfg.use_ssl:
            self.head = AttributionHead(
                cfg.projection_dim, self.action_dim, encoder.out_shape, obs_shape
            ).to(self.device)
        self.log_alpha = torch.tensor(
            math.log(cfg.init_temperature), device=self.device, requires_grad=True
        )

        fused = {"fused": True} if self.device.type == "cuda" else {}
        self._critic_params = list(self.critic.parameters())
        self._actor_params = list(self.actor.parameters())
        self.critic_optimizer = torch.optim.Adam(
            self._critic_params, lr=cfg.critic_lr, betas=(cfg.critic_beta, 0.999), **fused
        )
        self.actor_optimizer = torch.optim.Adam(
            self._actor_params, lr=cfg.actor_lr, betas=(cfg.actor_beta, 0.999), **fused
        )
        self.alpha_optimizer = torch.optim.Adam(
            [self.log_alpha], lr=cfg.alpha_lr, betas=(cfg.alpha_beta, 0.999)
        )
        self.aux_optimizer: torch.optim.Adam | None = None
        if self.head is not None:
            # As in the authors' code: the head and the critic's encoder (convs + projection).
            self._aux_params = [
                *self.head.parameters(),
                *self.critic.encoder.parameters(),
                *self.critic.projection.parameters(),
            ]
            self.aux_optimizer = torch.optim.Adam(
                self._aux_params, lr=cfg.aux_lr, betas=(cfg.aux_beta, 0.999), **fused
            )

        # Target momentum: the critic's encoder (shared convs and its projection, as in the
        # DMC-GB code's `critic.encoder`) at encoder_tau, the two Q heads at critic_tau.
        def pairs(*names: str) -> tuple[list[Tensor], list[Tensor]]:
            src = [p for n in names for p in getattr(self.critic, n).parameters()]
            dst = [p for n in names for p in getattr(self.critic_target, n).parameters()]
            return dst, src

        self._target_groups = [
            (*pairs("encoder", "projection"), cfg.encoder_tau),
            (*pairs("q1_head", "q2_head"), cfg.critic_tau),
        ]

    # --- acting and inspection ---------------------------------------------------------------

    @property
    def alpha(self) -> Tensor:
        """Temperature exp(log_alpha) (differentiable w.r.t. log_alpha)."""
        return self.log_alpha.exp()

    def _as_batch(self, obs: np.ndarray | Tensor) -> Tensor:
        """(C, H, W) or (B, C, H, W) pixels -> (B, C, H, W) tensor on the device."""
        obs = torch.as_tensor(np.asarray(obs) if not isinstance(obs, Tensor) else obs)
        if obs.dim() == 3:
            obs = obs.unsqueeze(0)
        if obs.dim() != 4 or tuple(obs.shape[1:]) != self.obs_shape:
            raise ValueError(
                f"expected obs of shape {self.obs_shape} or (B, *{self.obs_shape}), "
                f"actual shape: {tuple(obs.shape)}"
            )
        return obs.to(self.device, non_blocking=True)

    @torch.no_grad()
    def act(self, obs: np.ndarray | Tensor, sample: bool) -> np.ndarray:
        """Action for a (C, H, W) observation (or a batch): a policy sample or the mean.

        Returns:
            (A,) float32 in [-1, 1] (or (B, A) for a batched obs).
        """
        batched = (obs.ndim if hasattr(obs, "ndim") else np.asarray(obs).ndim) == 4
        with self._autocast():
            mu, pi, _, _ = self.actor(
                self.critic.encoder(self._as_batch(obs)), compute_pi=sample, compute_log_pi=False
            )
        action = (pi if sample else mu).float().cpu().numpy()
        return action if batched else action[0]

    @torch.no_grad()
    def explain(self, obs: np.ndarray | Tensor, action: Tensor | None = None) -> Tensor:
        """Predicted saliency sigmoid(M_theta(f(s), a)) in one forward pass.

        Args:
            obs: (C, H, W) or (B, C, H, W) pixels.
            action: (B, A); default the policy's mean action for obs.

        Returns:
            (B, C, H, W) float probabilities on the agent's device.

        Raises:
            ValueError: the agent has no attribution head (algo without self-supervision).
        """
        if self.head is None:
            raise ValueError(
                f"algo {self.cfg.algo!r} has no attribution head; explain() needs 'sac_ssl' or 'sgqn'"
            )
        obs = self._as_batch(obs)
        with self._autocast():
            features = self.critic.encoder(obs)
            if action is None:
                action = self.actor(features, compute_pi=False, compute_log_pi=False)[0]
            logits = self.head(self.critic.projection(features), action.to(self.device))
        return torch.sigmoid(logits.float())

    def attribution_maps(
        self, obs: np.ndarray | Tensor, action: Tensor | None = None
    ) -> SaliencyMaps:
        """Guided-backprop attribution, its binarized mask and the predicted mask (figures).

        Args:
            obs: (C, H, W) or (B, C, H, W) pixels.
            action: (B, A); default the policy's mean action for obs.
        """
        obs = self._as_batch(obs)
        if action is None:
            with torch.no_grad():
                action = self.actor(
                    self.critic.encoder(obs), compute_pi=False, compute_log_pi=False
                )[0]
        action = action.to(self.device).float()
        attr = attribution(self.critic, obs, action)
        predicted = self.explain(obs, action) if self.head is not None else None
        return SaliencyMaps(attr, saliency_mask(attr, self.quantile), predicted)

    # --- learning ----------------------------------------------------------------------------

    def _autocast(self) -> contextlib.AbstractContextManager:
        """bfloat16 autocast on CUDA when cfg.amp, else a no-op."""
        if self.cfg.amp and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def update(self, batch: Batch, step: int) -> dict[str, Tensor]:
        """One SG-SAC update on a minibatch (the phases of the module docstring).

        Args:
            batch: transitions on any device (uint8 pixels, not yet augmented).
            step: the agent step, which decides the actor / target / attribution-head phases.

        Returns:
            Detached 0-d tensors on the device (no host sync): critic_loss, q1, and when their
            phase ran consistency_loss, actor_loss, alpha_loss, alpha, entropy, aux_loss.
        """
        cfg = self.cfg
        dev = self.device
        obs = random_shift(batch.obs.to(dev, non_blocking=True), cfg.shift_pad).float()
        next_obs = random_shift(batch.next_obs.to(dev, non_blocking=True), cfg.shift_pad).float()
        action = batch.action.to(dev, torch.float32, non_blocking=True)
        reward = batch.reward.to(dev, torch.float32, non_blocking=True).view(-1, 1)
        not_done = batch.not_done.to(dev, torch.float32, non_blocking=True).view(-1, 1)

        metrics = self.update_critic(obs, action, reward, next_obs, not_done)
        actor_step = step % cfg.actor_update_freq == 0
        aux_step = cfg.use_ssl and step % cfg.aux_update_freq == 0
        if actor_step or aux_step:
            features, mask = self.features_and_mask(obs, action, with_mask=aux_step)
            if actor_step:
                metrics.update(self.update_actor_and_alpha(features))
        if step % cfg.critic_target_update_freq == 0:
            self.update_targets()
        if aux_step:
            metrics.update(self.update_attribution_head(obs, action, mask))
        return metrics

    def update_critic(
        self, obs: Tensor, action: Tensor, reward: Tensor, next_obs: Tensor, not_done: Tensor
    ) -> dict[str, Tensor]:
        """Critic step on L_Q (+ consistency_weight * L_C when cfg.use_consistency).

        Args:
            obs, next_obs: (B, C, H, W) float pixels, already shifted.
            action: (B, A); reward, not_done: (B, 1).
        """
        cfg = self.cfg
        with torch.no_grad(), self._autocast():
            _, next_pi, next_log_pi, _ = self.actor(self.critic.encoder(next_obs))
            next_q1, next_q2 = self.critic_target(next_obs, next_pi)
            target = soft_td_target(
                reward,
                not_done,
                next_q1.float(),
                next_q2.float(),
                next_log_pi.float(),
                self.alpha,
                cfg.discount,
            )
        # One forward graph serves L_Q and, through a guided backward, the mask of L_C.
        obs = obs.detach().requires_grad_(cfg.use_consistency)
        with self._autocast():
            q1, q2 = self.critic.q_values(self.critic.encoder(obs), action)
            td_loss = critic_loss(q1.float(), q2.float(), target)
            loss = td_loss
            metrics = {"critic_loss": td_loss.detach(), "q1": q1.detach().float().mean()}
            if cfg.use_consistency:
                mask = saliency_mask(guided_gradient(q1, obs, retain_graph=True), self.quantile)
                masked_q = self.critic(masked_observation(obs.detach(), mask), action)
                c_loss = consistency_loss([q.float() for q in masked_q], (q1.float(), q2.float()))
                loss = td_loss + cfg.consistency_weight * c_loss
                metrics["consistency_loss"] = c_loss.detach()
        self.critic_optimizer.zero_grad(set_to_none=True)
        loss.backward(inputs=self._critic_params)  # no gradient w.r.t. the pixels
        self.critic_optimizer.step()
        return metrics

    def features_and_mask(
        self, obs: Tensor, action: Tensor, with_mask: bool
    ) -> tuple[Tensor, Tensor | None]:
        """Conv features of obs (detached) and, if asked, M_rho from the current critic.

        The mask needs a forward pass with a graph to the pixels; its features are the ones the
        actor reads, so the actor costs no extra encoder pass on SSL steps.
        """
        if not with_mask:
            with torch.no_grad(), self._autocast():
                return self.critic.encoder(obs), None
        obs = obs.detach().requires_grad_(True)
        with torch.enable_grad(), self._autocast():
            features = self.critic.encoder(obs)
            q1 = self.critic.q1_head(self.critic.projection(features), action)
            mask = saliency_mask(guided_gradient(q1, obs), self.quantile)
        return features.detach(), mask

    def update_actor_and_alpha(self, features: Tensor) -> dict[str, Tensor]:
        """Actor step (its gradients stop at the conv features) and temperature step."""
        with self._autocast():
            _, pi, log_pi, _ = self.actor(features)
            q1, q2 = self.critic.q_values(features.detach(), pi)
            log_pi = log_pi.float()
            a_loss = actor_loss(log_pi, q1.float(), q2.float(), self.alpha)
        self.actor_optimizer.zero_grad(set_to_none=True)
        a_loss.backward(inputs=self._actor_params)  # the critic is only read
        self.actor_optimizer.step()

        t_loss = alpha_loss(self.alpha, log_pi.detach(), self.target_entropy)
        self.alpha_optimizer.zero_grad(set_to_none=True)
        t_loss.backward()
        self.alpha_optimizer.step()
        return {
            "actor_loss": a_loss.detach(),
            "alpha_loss": t_loss.detach(),
            "alpha": self.alpha.detach(),
            "entropy": -log_pi.detach().mean(),
        }

    @torch.no_grad()
    def update_targets(self) -> None:
        """Polyak-average the target critic: encoder_tau for the encoder, critic_tau for Q heads."""
        for target, source, tau in self._target_groups:
            torch._foreach_lerp_(target, source, tau)

    def update_attribution_head(
        self, obs: Tensor, action: Tensor, mask: Tensor
    ) -> dict[str, Tensor]:
        """Self-supervised step: predict M_rho(s) from f(overlay(s)); updates head + encoder.

        Args:
            obs: (B, C, H, W) float pixels (the shifted batch the mask was computed on).
            action: (B, A).
            mask: (B, C, H, W) M_rho of obs.
        """
        assert self.head is not None and self.overlay is not None and self.aux_optimizer is not None
        images = self.overlay.sample(obs.shape[0])
        s_tilde = random_overlay(obs, images, self.cfg.overlay_alpha)
        with self._autocast():
            embedding = self.critic.projection(self.critic.encoder(s_tilde))
            loss = attribution_prediction_loss(self.head(embedding, action), mask)
        self.aux_optimizer.zero_grad(set_to_none=True)
        loss.backward(inputs=self._aux_params)
        self.aux_optimizer.step()
        return {"aux_loss": loss.detach()}

    # --- checkpoints -------------------------------------------------------------------------

    def _stateful(self) -> dict[str, Any]:
        parts: dict[str, Any] = {
            "actor": self.actor,
            "critic": self.critic,
            "critic_target": self.critic_target,
            "actor_optimizer": self.actor_optimizer,
            "critic_optimizer": self.critic_optimizer,
            "alpha_optimizer": self.alpha_optimizer,
        }
        if self.head is not None:
            parts["attribution_head"] = self.head
            parts["aux_optimizer"] = self.aux_optimizer
        return parts

    def state_dict(self) -> dict[str, Any]:
        """Networks, target networks, optimisers and log_alpha (a checkpoint's agent part)."""
        state = {name: part.state_dict() for name, part in self._stateful().items()}
        state["log_alpha"] = self.log_alpha.detach().clone()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what `state_dict()` returned (same algo and shapes).

        Raises:
            ValueError: the state was saved by an agent with different parts (another algo).
        """
        parts = self._stateful()
        expected, actual = {*parts, "log_alpha"}, set(state)
        if expected != actual:
            raise ValueError(
                f"checkpoint does not match this agent (algo {self.cfg.algo!r}): missing "
                f"{sorted(expected - actual)}, unexpected {sorted(actual - expected)}; "
                "rebuild the agent with the checkpoint's config"
            )
        for name, part in parts.items():
            part.load_state_dict(state[name])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
