# Copyright (c) mmgcp contributors. All rights reserved.
"""``signed_sqrt_l2`` and ``GCPNeck(post_norm='signed_sqrt_l2')`` in float64 against the formula:
``y_i = sign(v_i) sqrt(|v_i|)``, then ``y / ||y||_2`` per row."""
import torch

from mmgcp.models import GCPNeck
from mmgcp.models.utils import signed_sqrt_l2


def reference_signed_sqrt_l2(vec: torch.Tensor) -> torch.Tensor:
    """Row by row and element by element, as the formula reads."""
    rows = []
    for row in vec:
        signed = [(1.0 if v > 0 else -1.0) * abs(v)**0.5 for v in row.tolist()]
        norm = sum(s * s for s in signed)**0.5
        rows.append([s / norm for s in signed])
    return torch.tensor(rows, dtype=torch.float64)


def _vectors(seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    # magnitudes from 1e-3 to 1e3 and both signs: the square root visibly changes the direction
    magnitudes = 10.0**torch.empty(3, 10, dtype=torch.float64).uniform_(-3, 3, generator=generator)
    signs = torch.randint(0, 2, (3, 10), generator=generator) * 2 - 1
    return magnitudes * signs


def test_values_match_the_formula():
    vec = _vectors()
    out = signed_sqrt_l2(vec)
    expected = reference_signed_sqrt_l2(vec)
    torch.testing.assert_close(out, expected, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(3, dtype=torch.float64))
    # not a plain L2 normalisation: the directions differ
    assert not torch.allclose(out, torch.nn.functional.normalize(vec, dim=1), atol=1e-3)


def test_gradient_matches_the_formula():
    vec = _vectors(1)
    weight = torch.randn(vec.shape, generator=torch.Generator().manual_seed(2),
                         dtype=torch.float64)
    leaf = vec.clone().requires_grad_()
    (signed_sqrt_l2(leaf) * weight).sum().backward()
    # d/dv of sign(v) sqrt|v| is 1 / (2 sqrt|v|); then the Jacobian of y / ||y||:
    # (I - u u^T) / ||y|| with u = y / ||y||
    signed = vec.sign() * vec.abs().sqrt()
    norm = signed.norm(dim=1, keepdim=True)
    unit = signed / norm
    grad_signed = (weight - (weight * unit).sum(1, keepdim=True) * unit) / norm
    expected = grad_signed / (2 * vec.abs().sqrt())
    torch.testing.assert_close(leaf.grad, expected, rtol=1e-8, atol=1e-12)


def test_a_zero_vector_stays_zero_with_a_finite_gradient():
    leaf = torch.zeros(2, 6, dtype=torch.float64, requires_grad=True)
    out = signed_sqrt_l2(leaf)
    assert not out.any()
    out.sum().backward()
    assert torch.isfinite(leaf.grad).all()


def test_gcp_neck_applies_it_to_the_covariance_triangle(reference):
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(2, 6, 4, 4, dtype=torch.float64, generator=generator)
    neck = GCPNeck(in_channels=6, reduced_channels=None, post_norm='signed_sqrt_l2').eval()
    (out, ) = neck(x)
    expected = reference_signed_sqrt_l2(reference.triu(reference.covariance(x)))
    torch.testing.assert_close(out, expected, rtol=1e-9, atol=1e-12)
