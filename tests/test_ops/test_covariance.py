# Copyright (c) mmgcp contributors. All rights reserved.
"""Tests of mmgcp/ops/covariance.py against float64 references written from the definition."""
import pytest
import torch

from mmgcp.ops import Covariance, CrossCovariance, NonFiniteError, covariance, cross_covariance


def reference_covariance(x: torch.Tensor) -> torch.Tensor:
    """(1/M) sum_m (x_m - mean)(x_m - mean)^T, position by position, in float64."""
    x = x.double().flatten(2)
    mean = x.mean(-1, keepdim=True)
    outer = torch.einsum('bim,bjm->bij', x - mean, x - mean)
    return outer / x.shape[-1]


def rel_err(value: torch.Tensor, reference: torch.Tensor) -> float:
    return float((value.double() - reference).norm() / reference.norm())


def features(batch=2, channels=256, size=14, seed=0, dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, channels, size, size, generator=generator, dtype=dtype)
    return x.relu() + 3.0  # a large mean, as after ReLU: centring must be exact


def test_covariance_matches_reference():
    x = features()
    expected = reference_covariance(x)
    out = covariance(x)
    assert out.dtype == torch.float64 and out.shape == (2, 256, 256)
    assert rel_err(out, expected) < 1e-12
    out32 = covariance(x.float())
    assert out32.dtype == torch.float32
    assert rel_err(out32, expected) < 1e-5
    torch.testing.assert_close(out32, out32.mT)  # symmetric
    assert torch.linalg.eigvalsh(out[0]).min() > -1e-10  # PSD, singular (M = 196 < 256)


def test_covariance_gradient_matches_reference():
    x = features(batch=2, channels=64, size=7)
    weight = torch.randn(2, 64, 64, generator=torch.Generator().manual_seed(1),
                         dtype=torch.float64)
    leaf = x.clone().requires_grad_()
    (reference_covariance(leaf) * weight).sum().backward()
    expected = leaf.grad
    leaf = x.float().requires_grad_()
    (covariance(leaf) * weight.float()).sum().backward()
    assert rel_err(leaf.grad, expected) < 1e-4


def test_covariance_gradcheck():
    x = torch.randn(2, 5, 3, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(covariance, (x, ))


def test_tokens_layout_and_flat_positions():
    x = features(batch=2, channels=16, size=5)
    expected = covariance(x)
    tokens = x.flatten(2).transpose(1, 2).contiguous()  # B x N x C
    torch.testing.assert_close(covariance(tokens, tokens=True), expected)
    torch.testing.assert_close(covariance(x.flatten(2)), expected)
    torch.testing.assert_close(Covariance(tokens=True)(tokens), expected)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_covariance_autocast_runs_in_float32(dtype):
    x = features(batch=2, channels=32, size=7, dtype=torch.float32) * 30  # trace ~ 1e5
    with torch.autocast('cpu', dtype=dtype):  # torch >= 2.3 autocasts CPU ops to fp16 too
        out = covariance(x.to(dtype))
        out_from_fp32 = covariance(x)
    expected = reference_covariance(x.to(dtype))
    for value in (out, out_from_fp32):
        assert value.dtype == torch.float32 and torch.isfinite(value).all()
    assert rel_err(out, expected) < 1e-5  # no fp16/bf16 rounding of the products
    assert float(expected.diagonal(dim1=1, dim2=2).sum(-1).max()) > 1e4


def test_covariance_nonfinite_raise_and_skip():
    x = features(batch=4, channels=8, size=3)
    x[2, 1, 0, 0] = float('nan')
    x[3, 0, 1, 1] = float('-inf')
    with pytest.raises(NonFiniteError, match=r'covariance.*\[2, 3\]'):
        covariance(x)
    module = Covariance(nonfinite='skip')
    leaf = x.clone().requires_grad_()
    with pytest.warns(UserWarning, match='skipped 2'):
        out = module(leaf)
    assert module.num_skipped == 2
    assert not out[2:].any()
    torch.testing.assert_close(out[:2], covariance(x[:2]))
    out.sum().backward()
    assert torch.isfinite(leaf.grad).all() and not leaf.grad[2:].any()


@pytest.mark.parametrize('shape,tokens', [((4, 5), False), ((2, 3, 4, 5), True), ((2, 3), True)])
def test_covariance_shape_errors(shape, tokens):
    with pytest.raises(ValueError, match='expects'):
        covariance(torch.ones(shape), tokens=tokens)


def test_covariance_argument_errors():
    with pytest.raises(ValueError, match='nonfinite'):
        covariance(torch.ones(2, 3, 4), nonfinite='ignore')
    with pytest.raises(TypeError, match='floating-point'):
        covariance(torch.ones(2, 3, 4, dtype=torch.int64))


def reference_cross_covariance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a, b = a.double(), b.double()
    a = a - a.mean(-2, keepdim=True)
    b = b - b.mean(-2, keepdim=True)
    return torch.einsum('...ni,...nj->...ij', a, b) / a.shape[-2]


def test_cross_covariance_per_head():
    generator = torch.Generator().manual_seed(5)
    q = torch.randn(2, 6, 196, 24, generator=generator) + 1.0
    k = torch.randn(2, 6, 196, 20, generator=generator) - 2.0
    expected = reference_cross_covariance(q, k)
    out = cross_covariance(q, k)
    assert out.shape == (2, 6, 24, 20) and out.dtype == torch.float32
    assert rel_err(out, expected) < 1e-5
    torch.testing.assert_close(cross_covariance(q, q), covariance(q.flatten(0, 1), tokens=True)
                               .view(2, 6, 24, 24))
    torch.testing.assert_close(CrossCovariance()(q, k), out)


def test_cross_covariance_gradcheck_and_autocast():
    a = torch.randn(2, 3, 7, 4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, 3, 7, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(cross_covariance, (a, b))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = cross_covariance(a.bfloat16(), b.bfloat16())
    assert out.dtype == torch.float32


def test_cross_covariance_errors_and_skip():
    with pytest.raises(ValueError, match='same leading dims'):
        cross_covariance(torch.ones(2, 7, 4), torch.ones(2, 6, 4))
    with pytest.raises(ValueError, match='N x C'):
        cross_covariance(torch.ones(4), torch.ones(4))
    a, b = torch.randn(3, 5, 4), torch.randn(3, 5, 2)
    b[1, 0, 0] = float('nan')
    with pytest.raises(NonFiniteError, match=r'\[1\]'):
        cross_covariance(a, b)
    module = CrossCovariance(nonfinite='skip')
    with pytest.warns(UserWarning):
        out = module(a, b)
    assert module.num_skipped == 1 and not out[1].any() and torch.isfinite(out).all()
