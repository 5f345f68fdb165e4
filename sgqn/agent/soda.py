"""SODA (Hansen and Wang, ICRA 2021): what it adds to SAC.

Every ``aux_update_freq`` steps, on its own replay batch of ``soda_batch_size``: an online
projector + predictor on a strongly augmented view of the observations (``--aux-augmentation``:
a natural-image overlay on DMC tasks, a random convolution on robot tasks, as the SGQN
authors' code) matches a momentum target's projection of a clean view (MSE of L2-normalised vectors; its own Adam). The online branch
shares the critic's convolutions; the target holds momentum copies of the convolutions and the
projector (DMControl-GB's ``SODAPredictor`` and its deepcopy), moved by ``soda_tau``.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn

from sgqn.agent.interfaces import Sampler
from sgqn.agent.losses import soda_loss
from sgqn.agent.networks import SODAMLP
from sgqn.agent.sac import SAC

__all__ = ["SODA"]


class SODA(SAC):
    """SAC plus SODA's self-supervised consistency loss (``soda``, ``svea_soda``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        p, encoder = self.cfg.projection_dim, self.critic.encoder
        self.soda_projector = SODAMLP(encoder.out_dim, p, p).to(self.device)
        self.soda_predictor = SODAMLP(p, p, p).to(self.device)
        self.soda_target = nn.Sequential(
            copy.deepcopy(encoder), copy.deepcopy(self.soda_projector)
        ).requires_grad_(False)
        online = [*encoder.parameters(), *self.soda_projector.parameters()]
        self._soda_momentum = (list(self.soda_target.parameters()), online)  # target, source
        self._soda_params = [*online, *self.soda_predictor.parameters()]
        self.soda_optimizer = self.adam(self._soda_params, self.cfg.soda_lr, self.cfg.soda_beta)

    def update_auxiliary(
        self, obs: Tensor, action: Tensor, step: int, replay: Sampler | None
    ) -> dict[str, Tensor]:
        metrics = super().update_auxiliary(obs, action, step, replay)
        if step % self.cfg.aux_update_freq == 0:
            if replay is None:
                raise ValueError(
                    f"algo {self.cfg.algo!r} draws its own batch of {self.cfg.soda_batch_size} "
                    "transitions for SODA: call update(batch, step, replay)"
                )
            metrics.update(self.update_soda(replay.sample(self.cfg.soda_batch_size).obs))
        return metrics

    def update_soda(self, obs: Tensor) -> dict[str, Tensor]:
        """SODA's step: predictor(projector(f(strong(aug(s))))) matches target(aug'(s)).

        The two views get independent base augmentations; the online convs, projector and
        predictor take one Adam step, then the target convs and projector move by soda_tau.

        Args:
            obs: (N, C, H, W) uint8 pixels as stored (its own replay batch).
        """
        clean = self.augment(obs)
        augmented = self.strong_augment(self.augment(obs), self.cfg.task_value("aux_augmentation"))
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

    def stateful(self) -> dict[str, Any]:
        return {
            **super().stateful(),
            "soda_projector": self.soda_projector,
            "soda_predictor": self.soda_predictor,
            "soda_target": self.soda_target,
            "soda_optimizer": self.soda_optimizer,
        }
