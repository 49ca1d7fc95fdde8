# Copyright (c) mmgcp contributors. All rights reserved.
"""Reference second-order pooling written from the formulas (GCP_FACTS.md section 1), not from
``mmgcp.ops``, so that the model tests compare the modules with something independent."""
from types import SimpleNamespace

import pytest
import torch


def covariance(x: torch.Tensor) -> torch.Tensor:
    """B x d x H x W -> B x d x d: (1/M) sum_m (x_m - mean)(x_m - mean)^T over M = H*W."""
    x = x.flatten(2).double()
    centred = x - x.mean(dim=2, keepdim=True)
    return centred @ centred.transpose(1, 2) / x.shape[2]


def isqrt(sigma: torch.Tensor, num_iters: int = 5) -> torch.Tensor:
    """iSQRT-COV: A = sigma / tr(sigma); Y0 = A, Z0 = I; T = (3I - Z Y) / 2, Y <- Y T, Z <- T Z for
    N - 1 steps, Y_N = Y (3I - Z Y) / 2; times sqrt(tr(sigma))."""
    sigma = sigma.double()
    eye = torch.eye(sigma.shape[-1], dtype=sigma.dtype).expand_as(sigma)
    trace = sigma.diagonal(dim1=-2, dim2=-1).sum(-1)[..., None, None]
    y, z = sigma / trace, eye
    for _ in range(num_iters - 1):
        t = 0.5 * (3 * eye - z @ y)
        y, z = y @ t, t @ z
    return 0.5 * y @ (3 * eye - z @ y) * trace.sqrt()


def sqrtm(sigma: torch.Tensor) -> torch.Tensor:
    """The principal square root of a symmetric PSD matrix by eigendecomposition (MPN-COV)."""
    values, vectors = torch.linalg.eigh(sigma.double())
    return vectors @ torch.diag_embed(values.clamp(min=0).sqrt()) @ vectors.transpose(-1, -2)


def triu(sigma: torch.Tensor) -> torch.Tensor:
    """Upper triangle with the diagonal, row by row: B x d x d -> B x d(d+1)/2."""
    d = sigma.shape[-1]
    return torch.cat([sigma[:, i, i:] for i in range(d)], dim=1)


@pytest.fixture(scope='session')
def reference():
    """The reference functions: ``covariance``, ``isqrt``, ``sqrtm``, ``triu`` (float64)."""
    return SimpleNamespace(covariance=covariance, isqrt=isqrt, sqrtm=sqrtm, triu=triu)
