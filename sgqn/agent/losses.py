"""Losses of SG-SAC as small pure functions: tensors in, a scalar (or target) out.

Contents:
    soft_td_target               r + gamma * not_done * (min(Q1', Q2') - alpha * log_pi').
    critic_loss                  L_Q = MSE(Q1, y) + MSE(Q2, y).
    consistency_loss             L_C = sum_i MSE(Qi(s), Qi(masked s)).
    actor_loss                   mean(alpha * log_pi - min(Q1, Q2)).
    alpha_loss                   mean(alpha * (-log_pi - target_entropy)).
    attribution_prediction_loss  BCE with logits of M_theta against the binarized mask M_rho.
    soda_loss                    MSE between the L2-normalised prediction and target projection.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "soft_td_target",
    "critic_loss",
    "consistency_loss",
    "actor_loss",
    "alpha_loss",
    "attribution_prediction_loss",
    "soda_loss",
]


def soft_td_target(
    reward: Tensor,
    not_done: Tensor,
    next_q1: Tensor,
    next_q2: Tensor,
    next_log_pi: Tensor,
    alpha: Tensor | float,
    discount: float,
) -> Tensor:
    """Soft Bellman target y = r + discount * not_done * (min(Q1', Q2') - alpha * log_pi').

    `not_done` is 1 - terminated: a time-limit truncation still bootstraps. All (B, 1).
    """
    next_v = torch.min(next_q1, next_q2) - alpha * next_log_pi
    return reward + not_done * discount * next_v


def critic_loss(q1: Tensor, q2: Tensor, target: Tensor) -> Tensor:
    """L_Q: the sum of both heads' mean squared TD errors (target is not differentiated)."""
    target = target.detach()
    return F.mse_loss(q1, target) + F.mse_loss(q2, target)


def consistency_loss(q_masked: Sequence[Tensor], q_full: Sequence[Tensor]) -> Tensor:
    """L_C: sum over the Q heads of MSE(Q_i(s), Q_i(masked s)); both sides are differentiated.

    Args:
        q_masked: (Q1, Q2) of the masked observation, each (B, 1).
        q_full: (Q1, Q2) of the full observation, each (B, 1).
    """
    if len(q_masked) != len(q_full) or not q_full:
        raise ValueError(
            f"expected as many masked as full Q values (>0), actual: {len(q_masked)} and {len(q_full)}"
        )
    return torch.stack([F.mse_loss(f, m) for m, f in zip(q_masked, q_full, strict=True)]).sum()


def actor_loss(log_pi: Tensor, q1: Tensor, q2: Tensor, alpha: Tensor | float) -> Tensor:
    """SAC policy loss mean(alpha * log_pi - min(Q1, Q2)); alpha is a constant here."""
    if isinstance(alpha, Tensor):
        alpha = alpha.detach()
    return (alpha * log_pi - torch.min(q1, q2)).mean()


def alpha_loss(alpha: Tensor, log_pi: Tensor, target_entropy: float) -> Tensor:
    """Temperature loss mean(alpha * (-log_pi - target_entropy)); only alpha is differentiated."""
    return (alpha * (-log_pi - target_entropy).detach()).mean()


def attribution_prediction_loss(logits: Tensor, mask: Tensor) -> Tensor:
    """Binary cross-entropy (with logits, mean over pixels) of M_theta against M_rho."""
    if logits.shape != mask.shape:
        raise ValueError(
            f"expected logits and mask of the same shape, actual: {tuple(logits.shape)} "
            f"and {tuple(mask.shape)}"
        )
    return F.binary_cross_entropy_with_logits(logits.float(), mask.detach().float())


def soda_loss(prediction: Tensor, target: Tensor) -> Tensor:
    """SODA: mean squared error of the L2-normalised vectors (mean over batch and features).

    Args:
        prediction: (B, D) online predictor output on the augmented view.
        target: (B, D) momentum target's projection of the clean view (not differentiated).
    """
    if prediction.shape != target.shape:
        raise ValueError(
            f"expected prediction and target of the same shape, actual: "
            f"{tuple(prediction.shape)} and {tuple(target.shape)}"
        )
    return F.mse_loss(F.normalize(prediction, dim=1), F.normalize(target.detach(), dim=1))
