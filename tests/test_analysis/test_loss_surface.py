# Copyright (c) mmgcp contributors. All rights reserved.
import pytest
import torch

from mmgcp.analysis import loss_curve_1d, loss_surface_2d


def quadratic():
    weight = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    return weight, (lambda: (weight**2).sum())


def test_curve_1d_matches_closed_form_and_restores_weights():
    weight, loss_fn = quadratic()
    direction = [torch.tensor([1.0, 0.0], dtype=torch.float64)]
    alphas = [-1.0, 0.0, 0.5, 2.0]
    losses = loss_curve_1d(loss_fn, [weight], direction, alphas)
    expected = torch.tensor([(1 + a)**2 + 4 for a in alphas], dtype=torch.float64)
    assert torch.allclose(losses, expected)
    assert torch.equal(weight.detach(), torch.tensor([1.0, -2.0], dtype=torch.float64))


def test_surface_2d_layout_is_betas_by_alphas():
    weight, loss_fn = quadratic()
    dx = [torch.tensor([1.0, 0.0], dtype=torch.float64)]
    dy = [torch.tensor([0.0, 1.0], dtype=torch.float64)]
    alphas, betas = [0.0, 1.0, 2.0], [-1.0, 3.0]
    surface = loss_surface_2d(loss_fn, [weight], dx, dy, alphas, betas)
    assert surface.shape == (2, 3)
    for j, b in enumerate(betas):
        for i, a in enumerate(alphas):
            assert surface[j, i] == pytest.approx((1 + a)**2 + (-2 + b)**2)


def test_weights_are_restored_when_the_loss_raises():
    weight, _ = quadratic()

    def failing_loss():
        raise RuntimeError('boom')

    with pytest.raises(RuntimeError):
        loss_curve_1d(failing_loss, [weight], [torch.ones(2, dtype=torch.float64)], [3.0])
    assert torch.equal(weight.detach(), torch.tensor([1.0, -2.0], dtype=torch.float64))
