# Copyright (c) mmgcp contributors. All rights reserved.
import sys
import types
from functools import partial

import torch
import torch.nn as nn
from torch.func import functional_call

from mmgcp.analysis import (
    differentiable_custom_functions,
    finite_difference_hvp,
    hessian_vector_product,
    top_hessian_eigenvalue,
)


def tiny_problem():
    gen = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    inputs = torch.randn(16, 3, generator=gen, dtype=torch.float64)
    targets = torch.randint(0, 2, (16, ), generator=gen)
    names = [name for name, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]

    def loss_of_flat(flat):
        chunks = flat.split([s.numel() for s in shapes])
        params = {n: c.view(s) for n, c, s in zip(names, chunks, shapes)}
        return nn.functional.cross_entropy(functional_call(model, params, (inputs, )), targets)

    def loss_fn():
        return nn.functional.cross_entropy(model(inputs), targets)

    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    hessian = torch.autograd.functional.hessian(loss_of_flat, flat)
    return model, loss_fn, hessian


def test_hessian_vector_product_equals_explicit_hessian():
    model, loss_fn, hessian = tiny_problem()
    params = list(model.parameters())
    vector = [torch.randn_like(p) for p in params]
    hvp = hessian_vector_product(loss_fn, params, vector)
    flat_v = torch.cat([v.flatten() for v in vector])
    assert torch.allclose(torch.cat([h.flatten() for h in hvp]), hessian @ flat_v)
    assert all(p.grad is None for p in params)


def test_power_iteration_finds_top_eigenvalue_of_explicit_hessian():
    model, loss_fn, hessian = tiny_problem()
    eigenvalues = torch.linalg.eigvalsh(hessian)
    top = eigenvalues[eigenvalues.abs().argmax()]
    params = list(model.parameters())
    result = top_hessian_eigenvalue(
        partial(hessian_vector_product, loss_fn, params), params, num_iters=500, tol=1e-10,
        generator=torch.Generator().manual_seed(0))
    assert result.converged
    assert abs(result.eigenvalue - float(top)) <= 1e-6 * abs(float(top))
    # The eigenvector satisfies H v = lambda v.
    flat_v = torch.cat([v.flatten() for v in result.eigenvector])
    assert torch.allclose(hessian @ flat_v, top * flat_v, atol=1e-4 * abs(float(top)))


def test_finite_difference_hvp_approximates_explicit_hessian_and_restores_weights():
    model, loss_fn, hessian = tiny_problem()
    params = list(model.parameters())
    before = [p.detach().clone() for p in params]
    vector = [torch.randn_like(p) for p in params]
    hvp = finite_difference_hvp(loss_fn, params, vector, rel_step=1e-5)
    flat_v = torch.cat([v.flatten() for v in vector])
    expected = hessian @ flat_v
    assert torch.allclose(torch.cat([h.flatten() for h in hvp]), expected,
                          atol=1e-6 * float(expected.abs().max()))
    assert all(torch.equal(p, b) for p, b in zip(params, before))
    assert all(p.grad is None for p in params)


def test_power_iteration_on_zero_hessian_returns_zero():
    params = [torch.zeros(3, requires_grad=True)]
    result = top_hessian_eigenvalue(lambda v: [torch.zeros(3)], params, num_iters=5)
    assert result.eigenvalue == 0.0 and result.converged


FAKE_OPS = '''
import torch
from torch.autograd.function import once_differentiable


class Cube(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return 3 * x**2 * grad
'''


def test_once_differentiable_functions_become_twice_differentiable(monkeypatch):
    module = types.ModuleType('fake_ops_for_hvp')
    exec(FAKE_OPS, module.__dict__)
    monkeypatch.setitem(sys.modules, 'fake_ops_for_hvp', module)
    weight = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64, requires_grad=True)

    def loss_fn():
        return module.Cube.apply(weight * torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)).sum()

    vector = [torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64)]
    # A once-differentiable backward fed a constant gradient loses the second-order term silently.
    plain, = hessian_vector_product(loss_fn, [weight], vector)
    assert torch.count_nonzero(plain) == 0
    with differentiable_custom_functions('fake_ops_') as classes:
        assert classes == [module.Cube]
        hvp, = hessian_vector_product(loss_fn, [weight], vector)
    # d2/dw2 sum (a w)^3 = 6 a^3 w
    a = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    assert torch.allclose(hvp, 6 * a**3 * weight.detach())
    assert 'apply' not in vars(module.Cube)  # restored


def test_hvp_through_mmgcp_gcp_ops_matches_finite_difference_hessian():
    from mmgcp.ops import covariance, isqrt, triu_vectorize
    gen = torch.Generator().manual_seed(0)
    inputs = torch.randn(2, 3, 6, generator=gen, dtype=torch.float64)
    readout = torch.randn(2, 10, generator=gen, dtype=torch.float64)
    weight = torch.randn(4, 3, generator=gen, dtype=torch.float64).requires_grad_(True)

    def loss_fn():
        features = torch.tanh(torch.einsum('dc,bcm->bdm', weight, inputs))  # 2 x 4 x 6
        return (triu_vectorize(isqrt(covariance(features))) * readout).sum()

    def grad_at(w):
        with torch.no_grad():
            weight.copy_(w)
        return torch.autograd.grad(loss_fn(), weight)[0].flatten()

    origin, step = weight.detach().clone(), 1e-5
    columns = []
    for i in range(origin.numel()):
        offset = torch.zeros(origin.numel(), dtype=torch.float64)
        offset[i] = step
        columns.append((grad_at(origin + offset.view_as(origin)) -
                        grad_at(origin - offset.view_as(origin))) / (2 * step))
    grad_at(origin)
    fd_hessian = torch.stack(columns, dim=1)

    with differentiable_custom_functions() as classes:
        assert classes  # mmgcp's once-differentiable functions were switched
        rows = [
            hessian_vector_product(loss_fn, [weight], [basis.view_as(origin)])[0].flatten()
            for basis in torch.eye(origin.numel(), dtype=torch.float64)
        ]
    assert torch.allclose(torch.stack(rows, dim=1), fd_hessian, rtol=1e-5, atol=1e-7)
