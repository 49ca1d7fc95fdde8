# Copyright (c) mmgcp contributors. All rights reserved.
"""Tests of mmgcp/ops/isqrt.py against float64 references written from the published math."""
import pytest
import torch

from mmgcp.ops import (
    CovarianceISqrt,
    ISqrt,
    NonFiniteError,
    covariance,
    covariance_isqrt,
    isqrt,
    matrix_power,
    num_skipped_samples,
)


def reference_isqrt(sigma: torch.Tensor, num_iters: int, trace_floor: float = 0.0) -> torch.Tensor:
    """The published iteration, literally: trace normalisation, coupled Newton-Schulz."""
    eye = torch.eye(sigma.shape[-1], dtype=sigma.dtype)
    trace = sigma.diagonal(dim1=-2, dim2=-1).sum(-1).clamp_min(trace_floor)[:, None, None]
    a = sigma / trace
    y, z = a, eye.expand_as(a)
    for _ in range(num_iters - 1):
        t = 0.5 * (3 * eye - z @ y)
        y, z = y @ t, t @ z
    y = 0.5 * y @ (3 * eye - z @ y)
    return y * trace.sqrt()


def reference_covariance(x: torch.Tensor) -> torch.Tensor:
    x = x.flatten(2)
    centred = x - x.mean(-1, keepdim=True)
    return centred @ centred.mT / x.shape[-1]


def rel_err(value: torch.Tensor, reference: torch.Tensor) -> float:
    return float((value.double() - reference).norm() / reference.norm())


def sym(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (x + x.mT)


def features(batch=2, channels=256, size=14, seed=0, dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, channels, size, size, generator=generator, dtype=dtype).relu()


def repeated_spectrum(dim=48, seed=0):
    """PSD matrix with three eigenvalues (3, 1 and 0), each repeated dim / 3 times."""
    generator = torch.Generator().manual_seed(seed)
    basis, _ = torch.linalg.qr(torch.randn(dim, dim, generator=generator, dtype=torch.float64))
    evals = torch.tensor([3.0, 1.0, 0.0], dtype=torch.float64)[torch.arange(dim) * 3 // dim]
    return ((basis * evals) @ basis.T)[None]


@pytest.mark.parametrize('num_iters', [1, 2, 5])
def test_isqrt_matches_published_iteration_on_singular_covariance(num_iters):
    sigma = reference_covariance(features())  # d = 256 > M = 196: singular
    assert torch.linalg.matrix_rank(sigma[0]) < 256
    expected = reference_isqrt(sigma, num_iters)
    assert rel_err(isqrt(sigma, num_iters), expected) < 1e-12
    out32 = isqrt(sigma.float(), num_iters)
    assert out32.dtype == torch.float32
    assert rel_err(out32, expected) < 1e-5
    fused32 = covariance_isqrt(features().float(), num_iters)
    assert rel_err(fused32, expected) < 1e-5


def test_isqrt_is_the_published_approximation_not_sqrtm():
    sigma = reference_covariance(features(batch=1, channels=64, size=7))
    exact = matrix_power(sigma, 0.5)
    assert rel_err(isqrt(sigma, 5), exact) > 0.05  # five steps are far from sqrtm here


def test_isqrt_repeated_eigenvalues():
    sigma = repeated_spectrum()
    expected = reference_isqrt(sigma, 5)
    assert rel_err(isqrt(sigma.float(), 5), expected) < 1e-5


@pytest.mark.parametrize('num_iters', [1, 3, 5])
def test_isqrt_gradient_matches_reference(num_iters):
    sigma = torch.cat([reference_covariance(features(batch=1)), repeated_spectrum(256)])
    weight = torch.randn(2, 256, 256, generator=torch.Generator().manual_seed(1),
                         dtype=torch.float64)
    leaf = sigma.clone().requires_grad_()
    (reference_isqrt(leaf, num_iters) * weight).sum().backward()
    # isqrt works on symmetric matrices: its gradient is the symmetric one
    expected = sym(leaf.grad)
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 1e-4)):
        leaf = sigma.to(dtype).clone().requires_grad_()
        (isqrt(leaf, num_iters) * weight.to(dtype)).sum().backward()
        assert rel_err(leaf.grad, expected) < tol


@pytest.mark.parametrize('num_iters', [1, 5])
def test_covariance_isqrt_gradient_matches_reference(num_iters):
    x = features()
    weight = torch.randn(2, 256, 256, generator=torch.Generator().manual_seed(2),
                         dtype=torch.float64)
    leaf = x.clone().requires_grad_()
    (reference_isqrt(reference_covariance(leaf), num_iters) * weight).sum().backward()
    expected = leaf.grad
    for fn in (covariance_isqrt, lambda v, n: isqrt(covariance(v), n)):
        leaf = x.float().requires_grad_()
        (fn(leaf, num_iters) * weight.float()).sum().backward()
        assert rel_err(leaf.grad, expected) < 1e-4


def test_covariance_isqrt_both_paths_agree():
    # M < d uses the M x M Gram matrix, M >= d the d x d covariance
    for size, channels in ((3, 16), (5, 16), (4, 9)):
        x = features(batch=3, channels=channels, size=size, seed=size)
        expected = reference_isqrt(reference_covariance(x), 5)
        assert rel_err(covariance_isqrt(x), expected) < 1e-12
        tokens = x.flatten(2).transpose(1, 2)
        assert rel_err(covariance_isqrt(tokens, tokens=True), expected) < 1e-12


@pytest.mark.parametrize('num_iters', [1, 2, 5])
def test_isqrt_gradcheck(num_iters):
    generator = torch.Generator().manual_seed(num_iters)
    factor = torch.randn(2, 6, 4, generator=generator, dtype=torch.float64)
    sigma = (factor @ factor.mT).requires_grad_()  # rank 4 < 6: singular

    def fn(s):
        return isqrt(sym(s), num_iters)  # stay on the symmetric manifold

    assert torch.autograd.gradcheck(fn, (sigma, ))


@pytest.mark.parametrize('size', [2, 3])  # M = 4 < d = 7 (Gram path), M = 9 >= d
def test_covariance_isqrt_gradcheck(size):
    x = torch.randn(2, 7, size, size, generator=torch.Generator().manual_seed(size),
                    dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda v: covariance_isqrt(v, 4), (x, ))


def test_gradcheck_below_the_trace_floor():
    # trace < eps: the output is sqrt(eps) Y_N(Sigma / eps), no gradient through the trace
    generator = torch.Generator().manual_seed(7)
    factor = torch.randn(2, 5, 3, generator=generator, dtype=torch.float64)
    sigma = (0.1 * factor @ factor.mT).requires_grad_()
    x = torch.randn(2, 6, 2, 2, generator=generator, dtype=torch.float64).requires_grad_()
    assert float(sigma.diagonal(dim1=1, dim2=2).sum(-1).max()) < 10
    assert torch.autograd.gradcheck(lambda s: isqrt(sym(s), 3, eps=10.0), (sigma, ))
    assert torch.autograd.gradcheck(lambda v: covariance_isqrt(v, 3, eps=50.0), (x, ))
    torch.testing.assert_close(isqrt(sigma, 3, eps=10.0), reference_isqrt(sigma, 3, 10.0))


def test_many_iterations_converge_to_matrix_square_root():
    generator = torch.Generator().manual_seed(3)
    basis, _ = torch.linalg.qr(torch.randn(2, 32, 32, generator=generator, dtype=torch.float64))
    evals = torch.linspace(1.0, 10.0, 32, dtype=torch.float64)
    sigma = (basis * evals) @ basis.mT
    exact = matrix_power(sigma, 0.5)
    assert rel_err(isqrt(sigma, 40), exact) < 1e-10
    assert rel_err(isqrt(sigma.float(), 40), exact) < 1e-5
    assert rel_err(isqrt(sigma, 2), exact) > 1e-3  # and it is not there after two steps


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
@pytest.mark.parametrize('target_trace', [1e2, 1e6])
def test_autocast_runs_in_float32(dtype, target_trace):
    generator = torch.Generator().manual_seed(4)
    conv = torch.nn.Conv2d(16, 64, 1, bias=False)
    conv.weight.data = torch.randn(64, 16, 1, 1, generator=generator)
    x = torch.randn(2, 16, 7, 7, generator=generator)
    x = x * (target_trace / covariance(conv(x)).diagonal(dim1=1, dim2=2).sum(-1).max()).sqrt()
    with torch.autocast('cpu', dtype=dtype):  # torch >= 2.3 autocasts CPU ops to fp16 too
        feats = conv(x.detach())
        outs = [covariance_isqrt(feats), isqrt(covariance(feats))]
    assert feats.dtype == dtype
    trace = covariance(feats.float()).diagonal(dim1=1, dim2=2).sum(-1)
    assert 0.5 * target_trace < float(trace.max()) < 2 * target_trace
    expected = reference_isqrt(reference_covariance(feats.double()), 5)
    for out in outs:
        assert out.dtype == torch.float32
        assert torch.isfinite(out).all()
        assert rel_err(out, expected) < 1e-5
    leaf = feats.detach().requires_grad_()
    with torch.autocast('cpu', dtype=dtype):
        covariance_isqrt(leaf).sum().backward()
    assert leaf.grad.dtype == dtype and torch.isfinite(leaf.grad.float()).all()


def test_zero_and_tiny_traces_are_finite():
    zeros = torch.zeros(2, 8, 8, requires_grad=True)
    out = isqrt(zeros)
    out.sum().backward()
    assert torch.equal(out, torch.zeros_like(out))
    assert torch.isfinite(zeros.grad).all()
    tiny = reference_covariance(features(batch=2, channels=16, size=3)).float() * 1e-30
    assert torch.isfinite(isqrt(tiny)).all()
    constant = torch.ones(2, 16, 3, 3, requires_grad=True)  # zero covariance, M < d
    out = covariance_isqrt(constant)
    out.sum().backward()
    assert torch.equal(out, torch.zeros_like(out)) and torch.isfinite(constant.grad).all()


def test_nonfinite_raise_names_op_and_batch_index():
    sigma = reference_covariance(features(batch=3, channels=8, size=3))
    sigma[1, 2, 3] = float('nan')
    with pytest.raises(NonFiniteError, match=r'isqrt.*\[1\]'):
        isqrt(sigma)
    x = features(batch=3, channels=8, size=2)
    x[2, 0, 0, 0] = float('inf')
    with pytest.raises(ValueError, match=r'covariance_isqrt.*\[2\]'):
        covariance_isqrt(x)


def test_nonfinite_skip_zeroes_and_counts():
    x = features(batch=3, channels=16, size=3)
    expected = covariance_isqrt(x)
    x[1, 3, 0, 0] = float('nan')
    leaf = x.clone().requires_grad_()
    module = CovarianceISqrt(nonfinite='skip')
    before = num_skipped_samples()
    with pytest.warns(UserWarning, match='skipped 1'):
        out = module(leaf)
    assert module.num_skipped == 1 and num_skipped_samples() == before + 1
    assert torch.equal(out[1], torch.zeros_like(out[1]))
    torch.testing.assert_close(out[[0, 2]], expected[[0, 2]])
    out.sum().backward()
    assert torch.isfinite(leaf.grad).all() and not leaf.grad[1].any()
    sigma = covariance(x[[0, 1]].nan_to_num()).clone()
    sigma[0, 0, 0] = float('inf')
    isqrt_module = ISqrt(nonfinite='skip')
    with pytest.warns(UserWarning):
        out = isqrt_module(sigma)
    assert isqrt_module.num_skipped == 1 and not out[0].any() and out[1].any()


@pytest.mark.parametrize('bad', [(4, 4), (2, 4, 5), (2, 3, 3, 4)])
def test_isqrt_shape_errors(bad):
    with pytest.raises(ValueError, match='B x d x d'):
        isqrt(torch.ones(bad))


def test_argument_errors():
    sigma = torch.eye(3)[None]
    for kwargs in (dict(num_iters=0), dict(num_iters=2.5), dict(eps=0.0), dict(nonfinite='x')):
        with pytest.raises(ValueError):
            isqrt(sigma, **kwargs)
        with pytest.raises(ValueError):
            ISqrt(**kwargs)
    with pytest.raises(ValueError, match='B x C x H x W'):
        covariance_isqrt(torch.ones(4, 4))


def test_backward_twice_needs_retain_graph():
    x = features(batch=2, channels=16, size=3, dtype=torch.float32).requires_grad_()
    out = covariance_isqrt(x).sum()
    out.backward(retain_graph=True)
    first = x.grad.clone()
    out.backward()
    torch.testing.assert_close(x.grad, 2 * first)
    with pytest.raises(RuntimeError):
        out.backward()


def test_modules_match_functions():
    x = features(batch=2, channels=16, size=3)
    sigma = covariance(x)
    torch.testing.assert_close(ISqrt(num_iters=3)(sigma), isqrt(sigma, 3))
    torch.testing.assert_close(CovarianceISqrt(num_iters=3)(x), covariance_isqrt(x, 3))
    assert 'num_iters=3' in repr(ISqrt(num_iters=3))


@pytest.mark.parametrize('method', ['eigh', 'iteration'])
def test_both_gram_evaluations_match_the_published_iteration(method, monkeypatch):
    """The Gram-matrix path (M < d) by eigh (the CPU default) and by the iteration (CUDA)."""
    monkeypatch.setenv('MMGCP_ISQRT_METHOD', method)
    x = features()
    weight = torch.randn(2, 256, 256, generator=torch.Generator().manual_seed(3),
                         dtype=torch.float64)
    leaf = x.clone().requires_grad_()
    expected = reference_isqrt(reference_covariance(leaf), 5)
    (expected * weight).sum().backward()
    leaf32 = x.float().requires_grad_()
    out = covariance_isqrt(leaf32)
    (out * weight.float()).sum().backward()
    assert rel_err(out, expected.detach()) < 1e-5
    assert rel_err(leaf32.grad, leaf.grad) < 1e-4
    # rank-1 features: all but one eigenvalue of the Gram matrix are equal (zero)
    rank1 = (torch.randn(2, 6, 1, dtype=torch.float64) *
             torch.randn(2, 1, 5, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda v: covariance_isqrt(v, 3), (rank1, ))
    small = torch.randn(2, 7, 2, 2, generator=torch.Generator().manual_seed(4),
                        dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda v: covariance_isqrt(v, 4), (small, ))
    assert torch.autograd.gradcheck(lambda v: covariance_isqrt(v, 3, eps=50.0), (small, ))
    # the d x d path (isqrt of a matrix, or M >= d)
    sigma = reference_covariance(features(batch=2, channels=16, size=5, seed=5))
    leaf = sigma.clone().requires_grad_()
    expected = reference_isqrt(sym(leaf), 5)
    (expected * weight[:, :16, :16]).sum().backward()
    leaf32 = sigma.float().requires_grad_()
    out = isqrt(leaf32)
    (out * weight[:, :16, :16].float()).sum().backward()
    assert rel_err(out, expected.detach()) < 1e-5
    assert rel_err(leaf32.grad, leaf.grad) < 1e-4
    factor = torch.randn(2, 6, 4, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    singular = (factor @ factor.mT).requires_grad_()
    assert torch.autograd.gradcheck(lambda s: isqrt(sym(s), 5), (singular, ))


def test_unknown_gram_method_is_a_clear_error(monkeypatch):
    monkeypatch.setenv('MMGCP_ISQRT_METHOD', 'svd')
    with pytest.raises(ValueError, match="MMGCP_ISQRT_METHOD='svd'.*'eigh' or 'iteration'"):
        covariance_isqrt(torch.randn(2, 8, 2, 2))
