# Copyright (c) mmgcp contributors. All rights reserved.
"""The GCP ops and GCPNeck on CUDA (marked ``cuda``; skipped where no GPU is present).

Run them with ``pytest -m cuda tests/test_ops/test_cuda.py`` (``tools/check_gpu.sh`` does).
"""
import pytest
import torch

from mmgcp.ops import (
    covariance,
    covariance_isqrt,
    cross_covariance,
    isqrt,
    matrix_power,
    triu_vectorize,
)

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(),
                       reason='needs a CUDA GPU (torch.cuda.is_available() is False)'),
]


def _features(batch=3, channels=6, positions=5, dtype=torch.float64, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, channels, positions, generator=generator, dtype=dtype)
    return x.cuda().requires_grad_()


@pytest.mark.parametrize('positions', [4, 9])  # Gram path (M < C) and covariance path
def test_gradcheck_float64_on_cuda(positions):
    x = _features(positions=positions)
    assert torch.autograd.gradcheck(lambda t: covariance_isqrt(t, 3), (x, ))
    assert torch.autograd.gradcheck(lambda t: triu_vectorize(isqrt(covariance(t), 3)), (x, ))
    assert torch.autograd.gradcheck(lambda t: matrix_power(covariance(t), 0.5), (x, ))
    a, b = _features(positions=positions), _features(channels=4, positions=positions, seed=1)
    assert torch.autograd.gradcheck(
        lambda s, t: cross_covariance(s.mT, t.mT), (a, b))


@pytest.mark.parametrize('eigh_device', ['input', 'cpu'])
def test_matrix_power_on_cuda_matches_cpu(eigh_device):
    x = _features(batch=4, channels=40, positions=60, dtype=torch.float32)  # d > 32
    sigma = covariance(x)
    out = matrix_power(sigma, 0.5, eigh_device=eigh_device)
    assert out.device.type == 'cuda'
    expected = matrix_power(sigma.detach().cpu(), 0.5)
    torch.testing.assert_close(out.cpu(), expected, rtol=1e-4, atol=1e-5)
    out.square().sum().backward()
    assert x.grad.device.type == 'cuda' and torch.isfinite(x.grad).all()
    # the square of the square root is the covariance again
    torch.testing.assert_close(out @ out, sigma, rtol=1e-3, atol=1e-4)


@pytest.fixture
def neck():
    pytest.importorskip('mmcv')
    from mmgcp.models import GCPNeck
    torch.manual_seed(0)
    return GCPNeck(in_channels=64, reduced_channels=32).cuda().train()


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_autocast_with_grad_scaler_matches_float32(neck, dtype):
    torch.manual_seed(1)
    feats = torch.randn(8, 64, 7, 7, device='cuda').relu_()
    weight = torch.randn(8, neck.out_channels, device='cuda')
    reference = neck.state_dict()

    def step(autocast_dtype):
        neck.load_state_dict(reference)
        neck.zero_grad()
        scaler = torch.amp.GradScaler('cuda', init_scale=2.0**10)
        x = feats.clone().requires_grad_()
        with torch.autocast('cuda', dtype=autocast_dtype, enabled=autocast_dtype is not None):
            (out, ) = neck(x)
            loss = (out.float() * weight).sum()
        scaler.scale(loss).backward()
        grads = {n: p.grad.float() / scaler.get_scale() for n, p in neck.named_parameters()}
        return out.float(), x.grad.float() / scaler.get_scale(), grads

    out32, grad32, params32 = step(None)
    out, grad, params = step(dtype)
    assert out.dtype == torch.float32  # the GCP math runs in float32 under autocast
    assert torch.isfinite(out).all() and torch.isfinite(grad).all()

    def rel(a, b):
        return float((a - b).norm() / b.norm())

    # the whole neck, the 1x1 reduction included, runs in float32 under autocast (fp32_reduction)
    assert rel(out, out32) < 1e-3
    assert rel(grad, grad32) < 2e-2
    for name, value in params.items():
        assert torch.isfinite(value).all(), name


def test_gcp_ops_inside_autocast_are_float32_and_close():
    x = _features(batch=4, channels=32, positions=49, dtype=torch.float32)
    expected = covariance_isqrt(x.detach())
    for dtype in (torch.float16, torch.bfloat16):
        with torch.autocast('cuda', dtype=dtype):
            out = covariance_isqrt(x.detach())
        assert out.dtype == torch.float32
        torch.testing.assert_close(out, expected, rtol=1e-3, atol=1e-3)


def test_training_step_makes_no_host_sync(neck):
    """torch's sync debug mode raises on every synchronising CUDA call (the real check)."""
    from types import SimpleNamespace

    from mmgcp.engine import NonFiniteCheckHook
    hook = NonFiniteCheckHook()
    hook.before_run(SimpleNamespace(model=neck))
    feats = torch.randn(8, 64, 7, 7, device='cuda')
    neck(feats)  # warm-up: cached triangle indices, cuBLAS handles
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode('error')
    try:
        (out, ) = neck(feats)
        out.square().sum().backward()
    finally:
        torch.cuda.set_sync_debug_mode('default')
    hook.after_train_iter(SimpleNamespace(model=neck, iter=0), 0)


def test_torch_compile_of_the_neck(neck):
    """torch.compile runs the neck (graph breaks at the custom autograd functions are allowed)."""
    feats = torch.randn(8, 64, 7, 7, device='cuda')
    neck.eval()
    with torch.no_grad():
        (expected, ) = neck(feats)
        compiled = torch.compile(neck)
        (out, ) = compiled(feats)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)
    neck.train()
    x = feats.clone().requires_grad_()
    (out, ) = compiled(x)
    out.square().sum().backward()
    assert torch.isfinite(x.grad).all()
