"""The SG-SAC losses as pure functions: values and what each one differentiates."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sgqn.agent.losses import (
    actor_loss,
    alpha_loss,
    attribution_prediction_loss,
    consistency_loss,
    critic_loss,
    soft_td_target,
)


def test_soft_td_target_bootstraps_unless_terminated():
    reward = torch.tensor([[1.0], [2.0]])
    not_done = torch.tensor([[1.0], [0.0]])
    q1, q2 = torch.tensor([[10.0], [5.0]]), torch.tensor([[8.0], [7.0]])
    log_pi = torch.tensor([[-2.0], [3.0]])
    target = soft_td_target(reward, not_done, q1, q2, log_pi, 0.1, 0.99)
    torch.testing.assert_close(target, torch.tensor([[1.0 + 0.99 * (8.0 + 0.2)], [2.0]]))


def test_critic_loss_sums_both_heads_and_stops_target_gradient():
    q1 = torch.tensor([[1.0], [2.0]], requires_grad=True)
    q2 = torch.tensor([[0.0], [4.0]], requires_grad=True)
    target = torch.tensor([[1.0], [1.0]], requires_grad=True)
    loss = critic_loss(q1, q2, target)
    torch.testing.assert_close(loss, torch.tensor((0 + 1) / 2 + (1 + 9) / 2))
    loss.backward()
    assert target.grad is None and q1.grad is not None and q2.grad is not None


def test_consistency_loss_is_the_sum_of_per_head_mse_with_both_sides_differentiated():
    full = (torch.tensor([[1.0], [3.0]], requires_grad=True), torch.tensor([[0.0], [0.0]]))
    masked = (torch.tensor([[2.0], [1.0]], requires_grad=True), torch.tensor([[2.0], [0.0]]))
    loss = consistency_loss(masked, full)
    torch.testing.assert_close(loss, torch.tensor((1 + 4) / 2 + (4 + 0) / 2))
    loss.backward()
    assert full[0].grad is not None and masked[0].grad is not None
    with pytest.raises(ValueError, match="as many masked as full"):
        consistency_loss(masked[:1], full)


def test_actor_loss_treats_alpha_as_constant():
    log_pi = torch.tensor([[1.0], [-1.0]], requires_grad=True)
    q1, q2 = torch.tensor([[3.0], [0.0]]), torch.tensor([[2.0], [5.0]])
    alpha = torch.tensor(0.5, requires_grad=True)
    loss = actor_loss(log_pi, q1, q2, alpha)
    torch.testing.assert_close(loss, torch.tensor(((0.5 - 2.0) + (-0.5 - 0.0)) / 2))
    loss.backward()
    assert alpha.grad is None and log_pi.grad is not None


def test_alpha_loss_only_moves_alpha_toward_the_target_entropy():
    log_alpha = torch.tensor(0.0, requires_grad=True)
    log_pi = torch.tensor([[2.0], [4.0]], requires_grad=True)  # entropy -3 below target -|A| = -1
    loss = alpha_loss(log_alpha.exp(), log_pi, target_entropy=-1.0)
    torch.testing.assert_close(loss, torch.tensor(1.0 * ((-2 + 1) + (-4 + 1)) / 2))
    loss.backward()
    assert log_pi.grad is None
    assert log_alpha.grad < 0  # gradient descent raises alpha to push the entropy up


def test_attribution_prediction_loss_is_mean_bce_with_logits():
    logits = torch.tensor([[[[2.0, -1.0], [0.0, 3.0]]]])
    mask = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])
    expected = (
        -(
            torch.log(torch.sigmoid(torch.tensor(2.0)))
            + torch.log(1 - torch.sigmoid(torch.tensor(-1.0)))
            + torch.log(torch.sigmoid(torch.tensor(0.0)))
            + torch.log(1 - torch.sigmoid(torch.tensor(3.0)))
        )
        / 4
    )
    torch.testing.assert_close(attribution_prediction_loss(logits, mask), expected)
    torch.testing.assert_close(
        attribution_prediction_loss(logits, mask.bool()),
        F.binary_cross_entropy_with_logits(logits, mask),
    )
    with pytest.raises(ValueError, match="same shape"):
        attribution_prediction_loss(logits, mask[..., :1])
