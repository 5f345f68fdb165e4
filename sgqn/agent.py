"""The agent of every ``--algo``: the paper's SAC plus one row of ``sgqn.algorithms``.

Contents:
    Batch          one sampled minibatch (uint8 pixels, float actions/rewards, not_done).
    Sampler        what `update` draws SODA's own batch from (the replay buffer).
    OverlaySource  protocol of the natural-image stream of the overlay augmentation.
    SaliencyMaps   network input, attribution, binarized mask and predicted mask, for figures.
    SGSAC          act(), update(), explain(), attribution_maps(), state_dict().
    make_agent     the agent of a Config with its data sources (what train and eval build).

One update (step t) runs, in the authors' order; the algorithm's row switches the parts:
    0. obs and next_obs get the base augmentation: none (sac), shift (drq, svea, SGQN) or
       crop (rad, soda);
    1. critic   (every step): L_Q [svea: + L_Q of augmented obs to the same clean targets]
       [SGQN: + 0.5 L_C];
    2. saliency (actor or SSL steps, SGQN): guided-backprop mask of the same obs with the
       updated critic; its forward pass also gives the conv features the actor reads;
    3. actor + temperature (t % actor_update_freq == 0);
    4. targets (t % critic_target_update_freq == 0);
    5. auxiliary (t % aux_update_freq == 0): SGQN's attribution head, BCE of
       M_theta(f(overlay(s)), a) against the mask of step 2; SODA's loss on its own batch.

Work is shared, not repeated: the critic's forward graph on the obs gives both L_Q and (by
a guided backward with the graph retained) the mask for L_C; SVEA's clean and augmented obs go
through the critic as one batch; weight gradients are requested only for the parameters each
optimiser steps; nothing waits for the host (metrics stay tensors).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor, nn

from sgqn.augment import center_crop, random_conv, random_crop, random_overlay, random_shift
from sgqn.config import Config
from sgqn.losses import (
    actor_loss,
    alpha_loss,
    attribution_prediction_loss,
    consistency_loss,
    critic_loss,
    soda_loss,
    soft_td_target,
)
from sgqn.networks import SODAMLP, Actor, AttributionHead, Critic, SharedEncoder
from sgqn.replay import Batch  # the agent consumes the replay buffer's minibatches
from sgqn.saliency import attribution, guided_gradient, masked_observation, saliency_mask

__all__ = ["Batch", "Sampler", "OverlaySource", "SaliencyMaps", "SGSAC", "make_agent"]


class Sampler(Protocol):
    """Where SODA draws its own batch: the replay buffer."""

    def sample(self, batch_size: int) -> Batch: ...


@runtime_checkable
class OverlaySource(Protocol):
    """Natural images for the overlay augmentation s~ = (1 - alpha) s + alpha image."""

    def images(self, start: int, n: int) -> Tensor:
        """Images start..start + n - 1 of the run's stream: (n, 3, H, W) uint8 on the agent's
        device, H and W those of the network's input; a pure function of (start, n)."""
        ...


class SaliencyMaps(NamedTuple):
    """Maps of one batch of observations, each (B, C, H, W) at the network's input size."""

    observation: Tensor  # what the network saw (the centre crop for rad and soda)
    attribution: Tensor  # guided backprop of Q1 w.r.t. the pixels
    mask: Tensor  # M_rho, zeros and ones
    predicted: Tensor | None  # sigmoid(M_theta), None without the attribution head


class SGSAC:
    """SAC with the additions of ``cfg.algo`` (see ``sgqn.algorithms.ALGORITHMS``).

    Args:
        obs_shape: (C, H, W) of the observations it is given, C = 3 * frame_stack, frames
            oldest to newest. The random-crop algos (rad, soda) are given H = W =
            input + cfg.crop_margin and crop; the others see the observation as it is.
        action_shape: (A,), actions in [-1, 1].
        cfg: hyper-parameters (see `sgqn.config.Config`).
        device: training device.
        overlay: natural-image stream; `update` needs one when `cfg.uses_overlay` (sgqn,
            sac_ssl, soda, svea with overlay, svea_soda). Acting and saliency maps never do.

    Raises:
        ValueError: bad shapes or algo.
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
        self.algorithm = cfg.algorithm
        self.cfg = cfg
        self.device = torch.device(device)
        self.obs_shape = obs_shape
        self.crops = self.algorithm.augmentation == "crop"
        self.input_size = obs_shape[1] - (cfg.crop_margin if self.crops else 0)
        if self.crops and (obs_shape[1] != obs_shape[2] or self.input_size < 1):
            raise ValueError(
                f"algo {cfg.algo!r} random-crops square observations {cfg.crop_margin} pixels "
                f"larger than its input, actual obs_shape: {obs_shape}"
            )
        input_shape = (obs_shape[0], self.input_size, self.input_size) if self.crops else obs_shape
        self.action_dim = action_shape[0]
        self.overlay = overlay
        self.overlay_drawn = 0  # images of the overlay stream used so far (checkpointed)
        self.quantile = cfg.resolved_quantile()
        self.target_entropy = -float(self.action_dim)

        encoder = SharedEncoder(input_shape, cfg.num_conv_layers, cfg.num_filters)
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
        self.log_alpha = torch.tensor(
            math.log(cfg.init_temperature), device=self.device, requires_grad=True
        )

        fused = {"fused": True} if self.device.type == "cuda" else {}

        def adam(params: list[Tensor], lr: float, beta: float) -> torch.optim.Adam:
            return torch.optim.Adam(params, lr=lr, betas=(beta, 0.999), **fused)

        self._critic_params = list(self.critic.parameters())
        self._actor_params = list(self.actor.parameters())
        self.critic_optimizer = adam(self._critic_params, cfg.critic_lr, cfg.critic_beta)
        self.actor_optimizer = adam(self._actor_params, cfg.actor_lr, cfg.actor_beta)
        self.alpha_optimizer = torch.optim.Adam(
            [self.log_alpha], lr=cfg.alpha_lr, betas=(cfg.alpha_beta, 0.999)
        )
        # The critic's encoder as the authors' code counts it: the shared convs + its projection.
        critic_encoder = [*self.critic.encoder.parameters(), *self.critic.projection.parameters()]

        self.head: AttributionHead | None = None
        self.aux_optimizer: torch.optim.Adam | None = None
        if self.algorithm.attribution_ssl:
            self.head = AttributionHead.variant(
                cfg.attribution_head,
                cfg.projection_dim,
                self.action_dim,
                encoder.out_shape,
                input_shape,
            ).to(self.device)
            self._aux_params = [*self.head.parameters(), *critic_encoder]
            self.aux_optimizer = adam(self._aux_params, cfg.aux_lr, cfg.aux_beta)

        self.soda_optimizer: torch.optim.Adam | None = None
        if self.algorithm.soda:
            # Online: the critic's convs -> projector -> predictor; target: momentum copies of
            # the convs and the projector (DMControl-GB's SODAPredictor and its deepcopy).
            p = cfg.projection_dim
            self.soda_projector = SODAMLP(encoder.out_dim, p, p).to(self.device)
            self.soda_predictor = SODAMLP(p, p, p).to(self.device)
            self.soda_target = nn.Sequential(
                copy.deepcopy(self.critic.encoder), copy.deepcopy(self.soda_projector)
            ).requires_grad_(False)
            online = [*self.critic.encoder.parameters(), *self.soda_projector.parameters()]
            self._soda_momentum = (list(self.soda_target.parameters()), online)  # target, source
            self._soda_params = [*online, *self.soda_predictor.parameters()]
            self.soda_optimizer = adam(self._soda_params, cfg.soda_lr, cfg.soda_beta)

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

    def view(self, obs: np.ndarray | Tensor) -> Tensor:
        """What the networks see when acting: (B, C, input, input), the centre crop for rad and
        soda, else the observation itself."""
        obs = self._as_batch(obs)
        return center_crop(obs, self.input_size) if self.crops else obs

    def augment(self, obs: Tensor) -> Tensor:
        """The algorithm's base augmentation of a (B, C, H, W) batch, as float pixels."""
        obs = obs.to(self.device, non_blocking=True)
        kind = self.algorithm.augmentation
        if kind == "shift":
            obs = random_shift(obs, self.cfg.shift_pad)
        elif kind == "crop":
            obs = random_crop(obs, self.input_size)
        return obs.float()

    def _mean_action(self, obs: Tensor) -> Tensor:
        with torch.no_grad(), self._autocast():
            features = self.critic.encoder(obs)
            return self.actor(features, compute_pi=False, compute_log_pi=False)[0].float()

    @torch.no_grad()
    def act(self, obs: np.ndarray | Tensor, sample: bool) -> np.ndarray:
        """Action for a (C, H, W) observation (or a batch): a policy sample or the mean.

        Returns:
            (A,) float32 in [-1, 1] (or (B, A) for a batched obs).
        """
        batched = (obs.ndim if hasattr(obs, "ndim") else np.asarray(obs).ndim) == 4
        with self._autocast():
            mu, pi, _, _ = self.actor(
                self.critic.encoder(self.view(obs)), compute_pi=sample, compute_log_pi=False
            )
        action = (pi if sample else mu).float().cpu().numpy()
        return action if batched else action[0]

    def explain(self, obs: np.ndarray | Tensor, action: Tensor | None = None) -> Tensor:
        """Predicted saliency sigmoid(M_theta(f(s), a)) in one forward pass.

        Args:
            obs: (C, H, W) or (B, C, H, W) pixels.
            action: (B, A); default the policy's mean action for obs.

        Returns:
            (B, C, input, input) float probabilities on the agent's device.

        Raises:
            ValueError: the agent has no attribution head (algo without self-supervision).
        """
        if self.head is None:
            raise ValueError(
                f"algo {self.cfg.algo!r} has no attribution head; explain() needs 'sac_ssl' or 'sgqn'"
            )
        return self._predicted_mask(self.view(obs), action)

    @torch.no_grad()
    def _predicted_mask(self, obs: Tensor, action: Tensor | None) -> Tensor:
        assert self.head is not None
        action = self._mean_action(obs) if action is None else action.to(self.device)
        with self._autocast():
            logits = self.head(self.critic.projection(self.critic.encoder(obs)), action)
        return torch.sigmoid(logits.float())

    def attribution_maps(
        self, obs: np.ndarray | Tensor, action: Tensor | None = None
    ) -> SaliencyMaps:
        """Guided-backprop attribution, its binarized mask and the predicted mask (figures).

        Works for every algo: the maps are the critic's, binarized at the task's rho.

        Args:
            obs: (C, H, W) or (B, C, H, W) pixels.
            action: (B, A); default the policy's mean action for obs.
        """
        obs = self.view(obs)
        action = self._mean_action(obs) if action is None else action.to(self.device).float()
        attr = attribution(self.critic, obs, action)
        predicted = self._predicted_mask(obs, action) if self.head is not None else None
        return SaliencyMaps(obs, attr, saliency_mask(attr, self.quantile), predicted)

    # --- learning ----------------------------------------------------------------------------

    def _autocast(self) -> contextlib.AbstractContextManager:
        """bfloat16 autocast on CUDA when cfg.amp, else a no-op."""
        if self.cfg.amp and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def overlay_images(self, n: int) -> Tensor:
        """The next n images of the overlay stream, (n, 3, input, input) uint8."""
        if self.overlay is None:
            raise ValueError(
                f"algo {self.cfg.algo!r} blends natural images into observations; build the "
                "agent with an overlay source (make_agent(cfg, ...) or SGSAC(..., overlay=...))"
            )
        images = self.overlay.images(self.overlay_drawn, n)
        self.overlay_drawn += n
        return images

    def update(self, batch: Batch, step: int, replay: Sampler | None = None) -> dict[str, Tensor]:
        """One update on a minibatch (the phases of the module docstring).

        Args:
            batch: transitions on any device (uint8 pixels as stored, not yet augmented).
            step: the agent step, which decides the actor / target / auxiliary phases.
            replay: where SODA draws its own batch of cfg.soda_batch_size transitions
                (soda, svea_soda); other algos ignore it.

        Returns:
            Detached 0-d tensors on the device (no host sync): critic_loss, q1, and when their
            phase ran consistency_loss, actor_loss, alpha_loss, alpha, entropy, aux_loss,
            soda_loss.
        """
        cfg, algorithm = self.cfg, self.algorithm
        dev = self.device
        obs, next_obs = self.augment(batch.obs), self.augment(batch.next_obs)
        action = batch.action.to(dev, torch.float32, non_blocking=True)
        reward = batch.reward.to(dev, torch.float32, non_blocking=True).view(-1, 1)
        not_done = batch.not_done.to(dev, torch.float32, non_blocking=True).view(-1, 1)

        metrics = self.update_critic(obs, action, reward, next_obs, not_done)
        actor_step = step % cfg.actor_update_freq == 0
        aux_step = step % cfg.aux_update_freq == 0
        head_step = algorithm.attribution_ssl and aux_step
        if actor_step or head_step:
            features, mask = self.features_and_mask(obs, action, with_mask=head_step)
            if actor_step:
                metrics.update(self.update_actor_and_alpha(features))
        if step % cfg.critic_target_update_freq == 0:
            self.update_targets()
        if head_step:
            metrics.update(self.update_attribution_head(obs, action, mask))
        if algorithm.soda and aux_step:
            if replay is None:
                raise ValueError(
                    f"algo {cfg.algo!r} draws its own batch of {cfg.soda_batch_size} "
                    "transitions for SODA: call update(batch, step, replay)"
                )
            metrics.update(self.update_soda(replay.sample(cfg.soda_batch_size).obs))
        return metrics

    def update_critic(
        self, obs: Tensor, action: Tensor, reward: Tensor, next_obs: Tensor, not_done: Tensor
    ) -> dict[str, Tensor]:
        """Critic step on L_Q [svea: + augmented copies] [+ consistency_weight * L_C].

        Args:
            obs, next_obs: (B, C, H, W) float pixels, already augmented.
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
        obs = obs.detach().requires_grad_(self.algorithm.consistency)
        inputs, actions = obs, action
        if self.algorithm.svea:  # clean and augmented obs in one batch, same targets
            inputs = torch.cat([obs, self.svea_augment(obs.detach())])
            actions = torch.cat([action, action])
        with self._autocast():
            q1, q2 = (q.float() for q in self.critic.q_values(self.critic.encoder(inputs), actions))
            if self.algorithm.svea:
                (q1, q1_aug), (q2, q2_aug) = q1.chunk(2), q2.chunk(2)
                td_loss = cfg.svea_alpha * critic_loss(q1, q2, target)
                td_loss = td_loss + cfg.svea_beta * critic_loss(q1_aug, q2_aug, target)
            else:
                td_loss = critic_loss(q1, q2, target)
            loss = td_loss
            metrics = {"critic_loss": td_loss.detach(), "q1": q1.detach().mean()}
            if self.algorithm.consistency:
                mask = saliency_mask(guided_gradient(q1, obs, retain_graph=True), self.quantile)
                masked_q = self.critic(masked_observation(obs.detach(), mask), action)
                c_loss = consistency_loss([q.float() for q in masked_q], (q1, q2))
                loss = td_loss + cfg.consistency_weight * c_loss
                metrics["consistency_loss"] = c_loss.detach()
        self.critic_optimizer.zero_grad(set_to_none=True)
        loss.backward(inputs=self._critic_params)  # no gradient w.r.t. the pixels
        self.critic_optimizer.step()
        return metrics

    def svea_augment(self, obs: Tensor) -> Tensor:
        """SVEA's augmentation of (already base-augmented) obs: overlay or random conv."""
        if self.cfg.svea_augmentation == "conv":
            return random_conv(obs)
        return random_overlay(obs, self.overlay_images(obs.shape[0]), self.cfg.overlay_alpha)

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
        """SGQN's self-supervised step: predict M_rho(s) from f(overlay(s)); head + encoder.

        Args:
            obs: (B, C, H, W) float pixels (the augmented batch the mask was computed on).
            action: (B, A).
            mask: (B, C, H, W) M_rho of obs.
        """
        assert self.head is not None and self.aux_optimizer is not None
        s_tilde = random_overlay(obs, self.overlay_images(obs.shape[0]), self.cfg.overlay_alpha)
        with self._autocast():
            embedding = self.critic.projection(self.critic.encoder(s_tilde))
            loss = attribution_prediction_loss(self.head(embedding, action), mask)
        self.aux_optimizer.zero_grad(set_to_none=True)
        loss.backward(inputs=self._aux_params)
        self.aux_optimizer.step()
        return {"aux_loss": loss.detach()}

    def update_soda(self, obs: Tensor) -> dict[str, Tensor]:
        """SODA's step: predictor(projector(f(overlay(aug(s))))) matches target(aug'(s)).

        The two views get independent base augmentations; the online convs, projector and
        predictor take one Adam step, then the target convs and projector move by soda_tau.

        Args:
            obs: (N, C, H, W) uint8 pixels as stored (its own replay batch).
        """
        assert self.soda_optimizer is not None
        clean = self.augment(obs)
        augmented = self.augment(obs)
        augmented = random_overlay(
            augmented, self.overlay_images(obs.shape[0]), self.cfg.overlay_alpha
        )
        with self._autocast():
            prediction = self.soda_predictor(self.soda_projector(self.critic.encoder(augmented)))
            with torch.no_grad():
                target = self.soda_target(clean)
            loss = soda_loss(prediction.float(), target.float())
        self.soda_optimizer.zero_grad(set_to_none=True)
        loss.backward(inputs=self._soda_params)
        self.soda_optimizer.step()
        with torch.no_grad():
            torch._foreach_lerp_(*self._soda_momentum, self.cfg.soda_tau)
        return {"soda_loss": loss.detach()}

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
        if self.soda_optimizer is not None:
            parts["soda_projector"] = self.soda_projector
            parts["soda_predictor"] = self.soda_predictor
            parts["soda_target"] = self.soda_target
            parts["soda_optimizer"] = self.soda_optimizer
        return parts

    def _counters(self) -> set[str]:
        return {"log_alpha", "overlay_drawn"} if self.cfg.uses_overlay else {"log_alpha"}

    def state_dict(self) -> dict[str, Any]:
        """Networks, targets, optimisers, log_alpha and the overlay stream's position.

        Only tensors, numbers and (nested) dicts: loadable with torch.load(weights_only=True).
        """
        state = {name: part.state_dict() for name, part in self._stateful().items()}
        state["log_alpha"] = self.log_alpha.detach().clone()
        if self.cfg.uses_overlay:
            state["overlay_drawn"] = self.overlay_drawn
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what `state_dict()` returned (same algo and shapes).

        Raises:
            ValueError: the state was saved by an agent with different parts (another algo).
        """
        parts = self._stateful()
        expected, actual = {*parts, *self._counters()}, set(state)
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
        if "overlay_drawn" in state:
            self.overlay_drawn = int(state["overlay_drawn"])

    def close(self) -> None:
        """Stop the overlay stream's decoding threads (if it has any)."""
        close = getattr(self.overlay, "close", None)
        if close is not None:
            close()


def make_agent(
    cfg: Config,
    action_shape: tuple[int, ...],
    device: torch.device | str,
    training: bool = True,
) -> SGSAC:
    """The agent of ``cfg.algo`` for observations of ``cfg.obs_shape``, with its data sources.

    Training builds the overlay image stream when the algorithm blends natural images
    (``cfg.uses_overlay``) and records its source in the agent's ``cfg.extra["overlay"]``;
    ``training=False`` (evaluation, figures) builds none: that agent acts and explains.

    Raises:
        dmcgb.errors.MissingData: the overlay images are not available.
        FileNotFoundError: an overlay folder without images.
    """
    overlay = None
    if training and cfg.uses_overlay:
        from sgqn.overlay import OverlayStream, resolve_source

        source = resolve_source(cfg.overlay_source)
        overlay = OverlayStream(source, cfg.image_size, device, seed=cfg.seed)
        cfg = dataclasses.replace(cfg, extra={**cfg.extra, "overlay": overlay.description})
    return SGSAC(cfg.obs_shape, action_shape, cfg, device, overlay=overlay)
