# Copyright (c) mmgcp contributors. All rights reserved.
"""Vectorisation of symmetric matrices by their upper triangle (the published order)."""
import functools
import math
from typing import Optional, Tuple

import torch
import torch.nn as nn
from torch import Tensor
from torch.autograd import Function
from torch.autograd.function import once_differentiable


@functools.lru_cache(maxsize=None)
def triu_flat_indices(dim: int, device: torch.device) -> Tuple[Tensor, Tensor]:
    """Flat indices of the upper triangle of a ``dim x dim`` matrix and of its mirror.

    The order is ``torch.triu_indices(dim, dim)``: row-major, diagonal included. It is part of
    the checkpoint format of every released GCP model (the classifier weights follow it).
    Computed once per (dim, device) and cached.

    Args:
        dim (int): Matrix size d.
        device (torch.device): Device of the indices.

    Returns:
        tuple[Tensor, Tensor]: ``row * d + col`` and ``col * d + row``, each of length
        ``d (d + 1) / 2`` (int64).
    """
    rows, cols = torch.triu_indices(dim, dim, device=device)
    return rows * dim + cols, cols * dim + rows


class _TriuVectorizeFunction(Function):
    """Gather the upper triangle; the backward scatters into zeros (indices are unique)."""

    @staticmethod
    def forward(ctx, sigma: Tensor, index: Tensor) -> Tensor:
        ctx.shape = sigma.shape
        ctx.save_for_backward(index)
        return sigma.reshape(*sigma.shape[:-2], -1).index_select(-1, index)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> Tuple[Tensor, None]:
        index, = ctx.saved_tensors
        shape = ctx.shape
        grad_sigma = grad.new_zeros(*shape[:-2], shape[-1] * shape[-2])
        grad_sigma.index_copy_(-1, index, grad)
        return grad_sigma.view(shape), None


def triu_vectorize(sigma: Tensor) -> Tensor:
    """Upper triangle (diagonal included) of each matrix, row-major, no sqrt(2) weighting.

    Args:
        sigma (Tensor): ``B x d x d`` matrices (any leading dims, ``... x d x d``).

    Returns:
        Tensor: ``B x d(d+1)/2`` (32896 values for d = 256), in the order of
        ``torch.triu_indices(d, d)``.
    """
    if not isinstance(sigma, Tensor):
        raise TypeError(f'triu_vectorize expects a torch.Tensor, got {type(sigma).__name__}.')
    if sigma.dim() < 2 or sigma.shape[-1] != sigma.shape[-2]:
        raise ValueError(f'triu_vectorize expects square matrices of shape B x d x d, got '
                         f'{tuple(sigma.shape)}.')
    index, _ = triu_flat_indices(sigma.shape[-1], sigma.device)
    return _TriuVectorizeFunction.apply(sigma, index)


def triu_unvectorize(vec: Tensor, dim: Optional[int] = None) -> Tensor:
    """Inverse of :func:`triu_vectorize`: rebuild the symmetric matrices.

    Args:
        vec (Tensor): ``B x d(d+1)/2`` vectors (any leading dims).
        dim (int, optional): Matrix size d. Inferred from the length when None.

    Returns:
        Tensor: ``B x d x d`` symmetric matrices.
    """
    if not isinstance(vec, Tensor) or vec.dim() < 1:
        raise ValueError('triu_unvectorize expects a tensor of shape B x d(d+1)/2.')
    length = vec.shape[-1]
    inferred = (math.isqrt(8 * length + 1) - 1) // 2
    if inferred * (inferred + 1) // 2 != length:
        raise ValueError(f'triu_unvectorize expects a last dimension d(d+1)/2 (a triangular '
                         f'number such as 32896 for d=256), got {length} in shape '
                         f'{tuple(vec.shape)}.')
    if dim is not None and dim != inferred:
        raise ValueError(f'triu_unvectorize got dim={dim}, which needs vectors of length '
                         f'{dim * (dim + 1) // 2}, but the last dimension is {length} '
                         f'(d={inferred}).')
    index, mirror = triu_flat_indices(inferred, vec.device)
    full = vec.new_zeros(*vec.shape[:-1], inferred * inferred)
    full = full.index_copy(-1, mirror, vec).index_copy(-1, index, vec)
    return full.view(*vec.shape[:-1], inferred, inferred)


class TriuVectorize(nn.Module):
    """Module form of :func:`triu_vectorize`: ``B x d x d -> B x d(d+1)/2``."""

    def forward(self, sigma: Tensor) -> Tensor:
        """``B x d x d`` -> ``B x d(d+1)/2``."""
        return triu_vectorize(sigma)
