# Copyright (c) mmgcp contributors. All rights reserved.
import pytest
import torch

from mmgcp.analysis import linear_etas, loss_and_activation_grad, probe_landscape


def test_linear_etas_paper_default():
    etas = linear_etas()
    assert len(etas) == 50
    assert etas[0] == pytest.approx(0.1) and etas[-1] == pytest.approx(75.0)
    steps = torch.tensor(etas).diff()
    assert torch.allclose(steps, steps[0].expand_as(steps))


@pytest.mark.parametrize('eta_range, num_steps', [((0.0, 1.0), 5), ((2.0, 1.0), 5), ((1, ), 5),
                                                  ((0.1, 1.0), 0)])
def test_linear_etas_rejects_bad_values(eta_range, num_steps):
    with pytest.raises(ValueError):
        linear_etas(eta_range, num_steps)


def test_probe_matches_closed_form_on_quadratic():
    # L(y) = 0.5 sum a y^2: g = a y, L(y + eta g) = 0.5 sum a y^2 (1 + eta a)^2 and
    # dL/dy(y + eta g) - g = eta a^2 y.
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(3, 4, generator=gen, dtype=torch.float64) + 0.5
    y = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    etas = linear_etas((0.1, 2.0), 7)
    probe = probe_landscape(lambda z: 0.5 * (a * z * z).sum(), y, etas)
    eta = torch.tensor(etas, dtype=torch.float64)
    expected_loss = torch.stack([0.5 * (a * y * y * (1 + e * a)**2).sum() for e in eta])
    expected_diff = eta * (a * a * y).norm()
    assert torch.allclose(probe.losses, expected_loss)
    assert torch.allclose(probe.grad_diffs, expected_diff)
    assert torch.allclose(probe.loss, 0.5 * (a * y * y).sum())
    assert torch.allclose(probe.grad_norm, (a * y).norm())
    assert torch.equal(probe.etas, eta)


def test_probe_calls_before_eval_for_every_evaluation():
    calls = []
    probe_landscape(lambda z: z.sum()**2, torch.ones(2), [0.5, 1.0, 1.5],
                    before_eval=lambda: calls.append(1))
    assert len(calls) == 4  # the base point and three steps


def test_probe_only_differentiates_the_activation():
    layer = torch.nn.Linear(4, 1)
    probe_landscape(lambda z: layer(z).pow(2).mean(), torch.randn(5, 4), [0.1, 1.0])
    assert all(p.grad is None for p in layer.parameters())


def test_loss_independent_of_activation_is_reported():
    with pytest.raises(ValueError, match='does not depend'):
        loss_and_activation_grad(lambda z: torch.tensor(1.0), torch.ones(3))
    with pytest.raises(ValueError, match='scalar'):
        loss_and_activation_grad(lambda z: z * 2, torch.ones(3))
