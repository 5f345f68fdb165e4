"""The SAC every ``--algo`` starts from: the SGQN paper's soft actor-critic (its Table 3).

11-layer 32-filter encoder shared by the critic and (detached) the actor, projection 100 +
LayerNorm, 1024-unit heads, lr 1e-3, target momentum 0.05 encoder / 0.01 heads, actor and
targets every 2 steps, initial temperature 0.1. What an algorithm adds to it lives in a module
of its own (``svea``, ``soda``, ``consistency``, ``attribution_ssl``) as a subclass that
overrides the hooks below; ``sgqn.agent.factory`` composes them from the row of
``sgqn.agent.algorithms``.

Contents:
    CriticTerms    what a critic loss hook returns: the loss, Q1 and Q2 of the clean obs, metrics.
    SAC            act(), update(), attribution_maps(), state_dict(), compile().

One update (step t), in the authors' order:
    0. obs and next_obs get the row's base augmentation: none (sac), random shift (drq, svea,
       SGQN) or random crop (rad, soda);
    1. critic every step: ``critic_loss`` (L_Q; additions extend it);
    2. actor + temperature every ``actor_update_freq`` steps, on ``actor_features`` (the conv
       features, detached; an addition may compute more in the same forward pass);
    3. targets every ``critic_target_update_freq`` steps;
    4. ``update_auxiliary``: nothing in SAC; the additions' own losses and optimisers.

Nothing waits for the host: metrics stay device tensors; weight gradients are requested only
for the parameters each optimiser steps.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from dmcgb.protocol.envs import to_chw
from sgqn.agent.augment import center_crop, random_conv, random_crop, random_overlay, random_shift
from sgqn.agent.interfaces import Batch, OverlaySource, SaliencyMaps, Sampler
from sgqn.agent.losses import actor_loss, alpha_loss, critic_loss, soft_td_target
from sgqn.agent.networks import Actor, Critic, SharedEncoder, compile_networks
from sgqn.agent.saliency import attribution, saliency_mask

if TYPE_CHECKING:
    from sgqn.config import Config

__all__ = ["CriticTerms", "SAC"]


class CriticTerms(NamedTuple):
    """A critic loss and what later terms need of its forward pass."""

    loss: Tensor  # the scalar the critic optimiser minimises
    q1: Tensor  # (B, 1) Q1 of the clean obs, float32, still in the graph
    q2: Tensor  # (B, 1) Q2 of the clean obs
    metrics: dict[str, Tensor]  # detached 0-d tensors


class SAC:
    """Soft actor-critic on pixels, with the base augmentation of ``cfg.algo``'s row.

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
        ValueError: bad shapes.
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
        self.input_shape = (
            (obs_shape[0], self.input_size, self.input_size) if self.crops else obs_shape
        )
        self.action_dim = action_shape[0]
        self.overlay = overlay
        self.overlay_drawn = 0  # images of the overlay stream used so far (checkpointed)
        self.quantile = cfg.resolved_quantile()
        self.target_entropy = -float(self.action_dim)

        encoder = SharedEncoder(self.input_shape, cfg.num_conv_layers, cfg.num_filters)
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
        self._critic_params = list(self.critic.parameters())
        self._actor_params = list(self.actor.parameters())
        self.critic_optimizer = self.adam(self._critic_params, cfg.critic_lr, cfg.critic_beta)
        self.actor_optimizer = self.adam(self._actor_params, cfg.actor_lr, cfg.actor_beta)
        self.alpha_optimizer = torch.optim.Adam(
            [self.log_alpha], lr=cfg.alpha_lr, betas=(cfg.alpha_beta, 0.999)
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

    def compile(self) -> None:
        """torch.compile every network of the agent, in place (`compile_networks`)."""
        for part in self.stateful().values():
            if isinstance(part, torch.nn.Module):
                compile_networks(part)

    def adam(self, params: list[Tensor], lr: float, beta: float) -> torch.optim.Adam:
        """Adam with beta2 0.999, fused on CUDA."""
        fused = {"fused": True} if self.device.type == "cuda" else {}
        return torch.optim.Adam(params, lr=lr, betas=(beta, 0.999), **fused)

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

    def mean_action(self, obs: Tensor) -> Tensor:
        """The policy's mean action for (B, C, input, input) network inputs, (B, A) float32."""
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

    def policy(self, stacks: np.ndarray) -> np.ndarray:
        """The agent as the benchmark's evaluation calls it (``dmcgb.protocol.episodes.Act``):
        (N, k, H, W, 3) uint8 frame stacks -> (N, A) mean actions."""
        return self.act(to_chw(stacks), sample=False)

    def explain(self, obs: np.ndarray | Tensor, action: Tensor | None = None) -> Tensor:
        """Predicted saliency sigmoid(M_theta(f(s), a)): only agents with an attribution head.

        Raises:
            ValueError: the agent has no attribution head (algo without self-supervision).
        """
        raise ValueError(
            f"algo {self.cfg.algo!r} has no attribution head; explain() needs 'sac_ssl' or 'sgqn'"
        )

    def predicted_mask(self, obs: Tensor, action: Tensor) -> Tensor | None:
        """sigmoid(M_theta) of network inputs, or None for agents without an attribution head."""
        return None

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
        action = self.mean_action(obs) if action is None else action.to(self.device).float()
        attr = attribution(self.critic, obs, action)
        predicted = self.predicted_mask(obs, action)
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
                "agent with an overlay source (sgqn.agent.build_agent(..., overlay=...))"
            )
        images = self.overlay.images(self.overlay_drawn, n)
        self.overlay_drawn += n
        return images

    def strong_augment(self, obs: Tensor, kind: object) -> Tensor:
        """A strong augmentation of (already base-augmented) obs: ``overlay`` blends in the next
        natural images of the stream, ``conv`` applies a random convolution per sample."""
        if kind == "conv":
            return random_conv(obs)
        return random_overlay(obs, self.overlay_images(obs.shape[0]), self.cfg.overlay_alpha)

    def update(self, batch: Batch, step: int, replay: Sampler | None = None) -> dict[str, Tensor]:
        """One update on a minibatch (the phases of the module docstring).

        Args:
            batch: transitions on any device (uint8 pixels as stored, not yet augmented).
            step: the agent step, which decides the actor / target / auxiliary phases.
            replay: where an addition draws its own batch (SODA); others ignore it.

        Returns:
            Detached 0-d tensors on the device (no host sync): critic_loss, q1, and when their
            phase ran actor_loss, alpha_loss, alpha, entropy, and the additions' losses.
        """
        cfg, dev = self.cfg, self.device
        obs, next_obs = self.augment(batch.obs), self.augment(batch.next_obs)
        action = batch.action.to(dev, torch.float32, non_blocking=True)
        reward = batch.reward.to(dev, torch.float32, non_blocking=True).view(-1, 1)
        not_done = batch.not_done.to(dev, torch.float32, non_blocking=True).view(-1, 1)

        metrics = self.update_critic(obs, action, reward, next_obs, not_done)
        if step % cfg.actor_update_freq == 0:
            metrics.update(self.update_actor_and_alpha(self.actor_features(obs, action, step)))
        if step % cfg.critic_target_update_freq == 0:
            self.update_targets()
        metrics.update(self.update_auxiliary(obs, action, step, replay))
        return metrics

    def td_target(self, reward: Tensor, next_obs: Tensor, not_done: Tensor) -> Tensor:
        """The soft Bellman target of the target critic and the current policy, (B, 1)."""
        with torch.no_grad(), self._autocast():
            _, next_pi, next_log_pi, _ = self.actor(self.critic.encoder(next_obs))
            next_q1, next_q2 = self.critic_target(next_obs, next_pi)
            return soft_td_target(
                reward,
                not_done,
                next_q1.float(),
                next_q2.float(),
                next_log_pi.float(),
                self.alpha,
                self.cfg.discount,
            )

    def update_critic(
        self, obs: Tensor, action: Tensor, reward: Tensor, next_obs: Tensor, not_done: Tensor
    ) -> dict[str, Tensor]:
        """One critic step on :meth:`critic_loss`.

        Args:
            obs, next_obs: (B, C, H, W) float pixels, already augmented.
            action: (B, A); reward, not_done: (B, 1).
        """
        target = self.td_target(reward, next_obs, not_done)
        terms = self.critic_loss(obs, action, target)
        self.critic_optimizer.zero_grad(set_to_none=True)
        terms.loss.backward(inputs=self._critic_params)  # no gradient w.r.t. the pixels
        self.critic_optimizer.step()
        return terms.metrics

    def critic_loss(self, obs: Tensor, action: Tensor, target: Tensor) -> CriticTerms:
        """L_Q: both Q heads' squared TD errors against ``target``."""
        with self._autocast():
            q1, q2 = (q.float() for q in self.critic(obs, action))
            return self.critic_terms(critic_loss(q1, q2, target), q1, q2)

    @staticmethod
    def critic_terms(td_loss: Tensor, q1: Tensor, q2: Tensor) -> CriticTerms:
        """The terms of a TD loss, with its metrics."""
        metrics = {"critic_loss": td_loss.detach(), "q1": q1.detach().mean()}
        return CriticTerms(td_loss, q1, q2, metrics)

    def actor_features(self, obs: Tensor, action: Tensor, step: int) -> Tensor:
        """The conv features the actor reads (detached from the encoder)."""
        with torch.no_grad(), self._autocast():
            return self.critic.encoder(obs)

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

    def update_auxiliary(
        self, obs: Tensor, action: Tensor, step: int, replay: Sampler | None
    ) -> dict[str, Tensor]:
        """The additions' own losses (after the targets); SAC has none."""
        return {}

    # --- checkpoints -------------------------------------------------------------------------

    def stateful(self) -> dict[str, Any]:
        """The modules and optimisers a checkpoint saves, by name (additions add theirs)."""
        return {
            "actor": self.actor,
            "critic": self.critic,
            "critic_target": self.critic_target,
            "actor_optimizer": self.actor_optimizer,
            "critic_optimizer": self.critic_optimizer,
            "alpha_optimizer": self.alpha_optimizer,
        }

    def _counters(self) -> set[str]:
        return {"log_alpha", "overlay_drawn"} if self.cfg.uses_overlay else {"log_alpha"}

    def state_dict(self) -> dict[str, Any]:
        """Networks, targets, optimisers, log_alpha and the overlay stream's position.

        Only tensors, numbers and (nested) dicts: loadable with torch.load(weights_only=True).
        """
        state = {name: part.state_dict() for name, part in self.stateful().items()}
        state["log_alpha"] = self.log_alpha.detach().clone()
        if self.cfg.uses_overlay:
            state["overlay_drawn"] = self.overlay_drawn
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what `state_dict()` returned (same algo and shapes).

        Raises:
            ValueError: the state was saved by an agent with different parts (another algo).
        """
        parts = self.stateful()
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
