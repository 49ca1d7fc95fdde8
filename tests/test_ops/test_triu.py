# Copyright (c) mmgcp contributors. All rights reserved.
"""Tests of mmgcp/ops/triu.py: the published (checkpoint) order and the inverse."""
import pytest
import torch

from mmgcp.ops import TriuVectorize, triu_flat_indices, triu_unvectorize, triu_vectorize


def test_order_is_row_major_upper_triangle():
    sigma = torch.arange(16.0).view(1, 4, 4)
    expected = [0, 1, 2, 3, 5, 6, 7, 10, 11, 15]  # row 0: 0..3, row 1: 5..7, row 2: 10, 11, ...
    assert triu_vectorize(sigma)[0].tolist() == expected
    generator = torch.Generator().manual_seed(0)
    for dim, length in ((256, 32896), (128, 8256), (7, 28)):
        sigma = torch.randn(3, dim, dim, generator=generator)
        rows, cols = torch.triu_indices(dim, dim)
        vec = triu_vectorize(sigma)
        assert vec.shape == (3, length)
        assert torch.equal(vec, sigma[:, rows, cols])


def test_round_trip_and_symmetry():
    generator = torch.Generator().manual_seed(1)
    factor = torch.randn(2, 3, 9, 9, generator=generator)
    sigma = factor + factor.mT  # symmetric, with extra leading dims
    vec = triu_vectorize(sigma)
    assert vec.shape == (2, 3, 45)
    assert torch.equal(triu_unvectorize(vec), sigma)
    assert torch.equal(triu_unvectorize(vec, dim=9), sigma)
    other = torch.randn(4, 45, generator=generator)
    rebuilt = triu_unvectorize(other)
    assert torch.equal(rebuilt, rebuilt.mT)
    assert torch.equal(triu_vectorize(rebuilt), other)
    assert torch.equal(TriuVectorize()(sigma), vec)


def test_gradients():
    sigma = torch.randn(2, 5, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(triu_vectorize, (sigma, ))
    vec = torch.randn(2, 15, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(triu_unvectorize, (vec, ))
    sigma = torch.randn(1, 4, 4, requires_grad=True)
    triu_vectorize(sigma).sum().backward()
    assert torch.equal(sigma.grad[0], torch.ones(4, 4).triu())


def test_errors():
    for shape in ((3, 4, 5), (4, )):
        with pytest.raises(ValueError, match='d x d'):
            triu_vectorize(torch.ones(shape))
    with pytest.raises(ValueError, match='triangular number'):
        triu_unvectorize(torch.ones(2, 11))
    with pytest.raises(ValueError, match='dim=5'):
        triu_unvectorize(torch.ones(2, 10), dim=5)


def test_indices_are_cached():
    first = triu_flat_indices(6, torch.device('cpu'))
    assert triu_flat_indices(6, torch.device('cpu'))[0] is first[0]
