# Copyright (c) mmgcp contributors. All rights reserved.
"""Tests of mmgcp/ops/matrix_power.py against float64 references written from the math."""
import pytest
import torch

from mmgcp.ops import MatrixPower, NonFiniteError, matrix_power, power_divided_differences


def reference_power(sigma: torch.Tensor, alpha: float) -> torch.Tensor:
    evals, evecs = torch.linalg.eigh(sigma.double())
    return (evecs * evals.clamp_min(0).pow(alpha).unsqueeze(-2)) @ evecs.mT


def rel_err(value: torch.Tensor, reference: torch.Tensor) -> float:
    return float((value.double() - reference).norm() / reference.norm())


def spectrum_matrix(evals, seed=0):
    dim = len(evals)
    generator = torch.Generator().manual_seed(seed)
    basis, _ = torch.linalg.qr(torch.randn(dim, dim, generator=generator, dtype=torch.float64))
    return ((basis * torch.tensor(evals, dtype=torch.float64)) @ basis.T)[None]


def singular_covariance(batch=2, channels=256, positions=196):
    x = torch.randn(batch, channels, positions, generator=torch.Generator().manual_seed(1),
                    dtype=torch.float64).relu()
    x = x - x.mean(-1, keepdim=True)
    return x @ x.mT / positions


@pytest.mark.parametrize('alpha', [0.5, 0.3, 1.0])
def test_matches_reference_including_singular(alpha):
    sigma = singular_covariance()
    assert rel_err(matrix_power(sigma, alpha), reference_power(sigma, alpha)) < 1e-12
    sigma32 = sigma.float()
    expected = reference_power(sigma32, alpha)  # same (float32-rounded) input
    out32 = matrix_power(sigma32, alpha)
    assert out32.dtype == torch.float32 and rel_err(out32, expected) < 1e-5


def test_square_root_squares_back():
    sigma = spectrum_matrix([4.0, 4.0, 4.0, 1.0, 0.25, 0.25])
    root = matrix_power(sigma, 0.5)
    torch.testing.assert_close(root @ root, sigma)


def test_gradient_matches_sylvester_solution_with_repeated_eigenvalues():
    # d sqrt(S)[E] = X solves X R + R X = E with R = sqrt(S): an independent reference
    sigma = spectrum_matrix([2.0] * 8 + [0.5] * 8 + [1.0, 3.0])
    weight = torch.randn(1, 18, 18, generator=torch.Generator().manual_seed(2),
                         dtype=torch.float64)
    root = reference_power(sigma, 0.5)[0]
    evals, evecs = torch.linalg.eigh(root)
    inner = evecs.T @ (0.5 * (weight[0] + weight[0].T)) @ evecs
    expected = evecs @ (inner / (evals[:, None] + evals[None, :])) @ evecs.T
    for dtype, tol in ((torch.float64, 1e-10), (torch.float32, 1e-4)):
        leaf = sigma.to(dtype).clone().requires_grad_()
        (matrix_power(leaf, 0.5) * weight.to(dtype)).sum().backward()
        assert rel_err(leaf.grad[0], expected) < tol


@pytest.mark.parametrize('alpha', [0.5, 0.7, 2.0])
def test_gradcheck_repeated_eigenvalues(alpha):
    sigma = spectrum_matrix([1.5, 1.5, 1.5, 0.6, 0.6, 2.0], seed=3).requires_grad_()
    assert torch.autograd.gradcheck(lambda s: matrix_power(0.5 * (s + s.mT), alpha), (sigma, ))


def test_gradient_finite_for_zero_and_repeated_eigenvalues():
    for sigma in (singular_covariance(batch=1).float(), torch.zeros(1, 5, 5),
                  spectrum_matrix([0.0, 0.0, 1.0, 1.0]).float()):
        leaf = sigma.clone().requires_grad_()
        matrix_power(leaf, 0.5).sum().backward()
        assert torch.isfinite(leaf.grad).all()


def test_divided_differences():
    evals = torch.tensor([[0.0, 1e-12, 1.0, 1.0, 1.0 + 1e-9, 4.0]], dtype=torch.float64)
    table = power_divided_differences(evals, 0.5, 1e-10)
    assert torch.isfinite(table).all()
    torch.testing.assert_close(table, table.mT)
    assert table[0, 2, 3] == pytest.approx(0.5)  # derivative for a repeated eigenvalue
    assert table[0, 3, 4] == pytest.approx(0.5, rel=1e-8)  # no cancellation
    assert table[0, 2, 5] == pytest.approx((2.0 - 1.0) / 3.0)
    assert table[0, 0, 0] == pytest.approx(0.5 * 1e-10**-0.5)  # floored at eps


def test_autocast_and_dtype():
    sigma = singular_covariance(batch=1, channels=32, positions=20).float()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = matrix_power(sigma.bfloat16(), 0.5)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    assert matrix_power(sigma.double()).dtype == torch.float64


def test_errors_and_nonfinite():
    with pytest.raises(ValueError, match='B x d x d'):
        matrix_power(torch.ones(3, 4))
    with pytest.raises(ValueError, match='alpha'):
        matrix_power(torch.eye(3)[None], alpha=-0.5)
    sigma = torch.eye(3).repeat(3, 1, 1)
    sigma[2, 0, 1] = float('nan')
    with pytest.raises(NonFiniteError, match=r'matrix_power.*\[2\]'):
        matrix_power(sigma)
    module = MatrixPower(nonfinite='skip')
    with pytest.warns(UserWarning):
        out = module(sigma)
    assert module.num_skipped == 1 and not out[2].any()
    torch.testing.assert_close(out[:2], sigma[:2])
