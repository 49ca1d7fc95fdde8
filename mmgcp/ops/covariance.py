# Copyright (c) mmgcp contributors. All rights reserved.
"""Covariance pooling: per-sample channel covariance of feature maps or tokens."""
from typing import Optional, Tuple

import torch
from torch import Tensor
from torch.autograd import Function
from torch.autograd.function import once_differentiable

from ._utils import autocast_disabled, to_compute_dtype
from .nonfinite import (
    NonFiniteCountingModule,
    check_nonfinite_mode,
    current_record,
    handle_nonfinite,
    nonfinite_mask,
    nonfinite_samples,
)
from .padding import fill_padding


class _CovarianceFunction(Function):
    """``B x C x M -> B x C x C``, ``(1/M) Xc Xc^T`` with a hand-written backward.

    The backward is ``grad_X = (1/M) (G + G^T) Xc``: no M x M centring matrix, and only the input
    (which the caller keeps anyway) and the B x C x 1 mean are stored.
    """

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        num_positions = x.shape[-1]
        mean = x.mean(dim=-1, keepdim=True)
        centred = x - mean
        sigma = torch.bmm(centred, centred.mT).div_(num_positions)
        ctx.save_for_backward(x, mean)
        return sigma

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> Tensor:
        x, mean = ctx.saved_tensors
        with autocast_disabled(x.device.type):
            centred = x - mean
            # (G + G^T) Xc already has zero mean over positions: no centring of the gradient.
            return torch.bmm(grad + grad.mT, centred).div_(x.shape[-1])


def _covariance_input(x: Tensor, tokens: bool, op: str) -> Tensor:
    """Check the layout of ``x`` and return it as ``B x C x M`` (a view when possible)."""
    if not isinstance(x, Tensor):
        raise TypeError(f'{op} expects a torch.Tensor, got {type(x).__name__}.')
    if tokens:
        if x.dim() != 3:
            raise ValueError(f'{op}(tokens=True) expects tokens of shape B x N x C, got '
                             f'{tuple(x.shape)}.')
        x = x.transpose(1, 2)
    elif x.dim() < 3:
        raise ValueError(f'{op} expects features of shape B x C x H x W (or B x C x M), got '
                         f'{tuple(x.shape)}; pass tokens=True for B x N x C tokens.')
    else:
        x = x.flatten(2)
    if x.shape[-1] == 0 or x.shape[1] == 0:
        raise ValueError(f'{op} needs at least one position and one channel, got B x C x M = '
                         f'{tuple(x.shape)}.')
    return x


def _covariance(x: Tensor, tokens: bool, nonfinite: str,
                valid_mask: Optional[Tensor] = None) -> Tuple[Tensor, int]:
    check_nonfinite_mode(nonfinite)
    x = _covariance_input(x, tokens, 'covariance')
    if valid_mask is not None:
        # docs/math.md section 8: the plain covariance of the filled map, scaled back; only the
        # valid positions reach the non-finite check
        x, scale = fill_padding(x, valid_mask, 'covariance')
    x, num_skipped = handle_nonfinite(x, 'covariance', nonfinite)
    with autocast_disabled(x.device.type):
        x = to_compute_dtype(x, 'covariance')
        sigma = _CovarianceFunction.apply(x)
        if valid_mask is not None:
            return sigma * scale[:, None, None], num_skipped
    if x.shape[-1] < x.shape[-2]:
        # Fewer positions than channels: isqrt(covariance(x)) can iterate on the M x M Gram
        # matrix of x instead (see mmgcp.ops.isqrt). Remember where sigma comes from; the
        # version guards against in-place changes of sigma.
        sigma._mmgcp_covariance_of = (x, sigma._version)
    return sigma, num_skipped


def covariance(x: Tensor,
               tokens: bool = False,
               nonfinite: str = 'raise',
               valid_mask: Optional[Tensor] = None) -> Tensor:
    """Per-sample channel covariance, centred over positions and divided by M.

    ``Sigma = (1/M) Xc Xc^T`` with ``Xc = X - mean over the M positions``. Runs in float32 under
    autocast (fp16/bf16 inputs are promoted); float64 inputs stay float64.

    Args:
        x (Tensor): Features ``B x C x H x W`` (any number of trailing spatial dims, including
            ``B x C x M``), or tokens ``B x N x C`` when ``tokens=True``.
        tokens (bool): Whether ``x`` is laid out as ``B x N x C``. Defaults to False.
        nonfinite (str): ``'raise'`` raises :class:`NonFiniteError` on NaN/Inf with the batch
            indices; ``'skip'`` outputs zeros for those samples and counts them. Defaults to
            ``'raise'``.
        valid_mask (Tensor, optional): ``B x H x W`` (or ``B x M``) booleans, True on the
            positions of the image in a padded batch (:func:`valid_position_mask`): the mean
            and the covariance of sample ``i`` are taken over its ``M_i`` valid positions only,
            divided by ``M_i``; the padding gets no gradient. Defaults to None (all positions).

    Returns:
        Tensor: ``B x C x C`` symmetric positive semi-definite matrices (float32 or float64).
    """
    return _covariance(x, tokens, nonfinite, valid_mask)[0]


def _cross_covariance(a: Tensor, b: Tensor, nonfinite: str) -> Tuple[Tensor, int]:
    check_nonfinite_mode(nonfinite)
    for name, value in (('a', a), ('b', b)):
        if not isinstance(value, Tensor) or value.dim() < 2:
            shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise ValueError(f'cross_covariance expects {name} of shape ... x N x C, got {shape}.')
    if a.shape[:-1] != b.shape[:-1]:
        raise ValueError(f'cross_covariance expects a (... x N x C1) and b (... x N x C2) with the '
                         f'same leading dims and N, got {tuple(a.shape)} and {tuple(b.shape)}.')
    if a.shape[-2] == 0:
        raise ValueError(f'cross_covariance needs at least one token, got {tuple(a.shape)}.')
    unbatched = a.dim() == 2
    if unbatched:
        a, b = a.unsqueeze(0), b.unsqueeze(0)
    num_skipped = 0
    if current_record() is not None:  # deferred: flags stay on the device
        bad = nonfinite_mask(a) | nonfinite_mask(b)
        a, _ = handle_nonfinite(a, 'cross_covariance', nonfinite, bad=bad)
        if nonfinite == 'skip':
            b = torch.where(bad.view(-1, *([1] * (b.dim() - 1))), torch.zeros_like(b), b)
        bad_a = bad_b = None
    else:
        bad_a, bad_b = nonfinite_samples(a), nonfinite_samples(b)
    if bad_a is not None or bad_b is not None:
        bad = bad_a if bad_b is None else bad_b if bad_a is None else bad_a | bad_b
        a, num_skipped = handle_nonfinite(a, 'cross_covariance', nonfinite, bad=bad)
        b = torch.where(bad.view(-1, *([1] * (b.dim() - 1))), torch.zeros_like(b), b)
    with autocast_disabled(a.device.type):
        a = to_compute_dtype(a, 'cross_covariance', 'a')
        b = to_compute_dtype(b, 'cross_covariance', 'b')
        if a.dtype != b.dtype:
            a, b = a.double(), b.double()
        a = a - a.mean(dim=-2, keepdim=True)
        b = b - b.mean(dim=-2, keepdim=True)
        out = torch.matmul(a.mT, b).div_(a.shape[-2])
    return (out.squeeze(0) if unbatched else out), num_skipped


def cross_covariance(a: Tensor, b: Tensor, nonfinite: str = 'raise') -> Tensor:
    """Cross-covariance of two token sets, ``(1/N) (a - mean)^T (b - mean)``.

    Used by the DeiT DropCov head, one matrix per head. The means are over the N tokens. Runs in
    float32 under autocast (half inputs are promoted); float64 stays float64.

    Args:
        a (Tensor): Tokens ``... x N x C1``.
        b (Tensor): Tokens ``... x N x C2`` with the same leading dims and N as ``a``.
        nonfinite (str): ``'raise'`` raises :class:`NonFiniteError` naming the batch indices
            (dim 0); ``'skip'`` outputs zeros for samples with NaN/Inf in ``a`` or ``b`` and
            counts them. Defaults to ``'raise'``.

    Returns:
        Tensor: ``... x C1 x C2``.
    """
    return _cross_covariance(a, b, nonfinite)[0]


class Covariance(NonFiniteCountingModule):
    """Module form of :func:`covariance`.

    Args:
        tokens (bool): Whether inputs are ``B x N x C`` tokens. Defaults to False.
        nonfinite (str): ``'raise'`` or ``'skip'``; see :func:`covariance`. Defaults to
            ``'raise'``.

    Attributes:
        num_skipped (int): Samples skipped so far because of NaN/Inf (``nonfinite='skip'``).
    """

    def __init__(self, tokens: bool = False, nonfinite: str = 'raise'):
        super().__init__(nonfinite)
        self.tokens = tokens

    def forward(self, x: Tensor, valid_mask: Optional[Tensor] = None) -> Tensor:
        """``B x C x H x W`` (or ``B x N x C``) -> ``B x C x C``, over the ``valid_mask``
        positions when given (see :func:`covariance`)."""
        return self.counted(_covariance(x, self.tokens, self.nonfinite, valid_mask))

    def extra_repr(self) -> str:
        return f"tokens={self.tokens}, nonfinite='{self.nonfinite}'"


class CrossCovariance(NonFiniteCountingModule):
    """Module form of :func:`cross_covariance`.

    Args:
        nonfinite (str): ``'raise'`` or ``'skip'``. Defaults to ``'raise'``.

    Attributes:
        num_skipped (int): Samples skipped so far because of NaN/Inf (``nonfinite='skip'``).
    """

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        """``... x N x C1``, ``... x N x C2`` -> ``... x C1 x C2``."""
        return self.counted(_cross_covariance(a, b, self.nonfinite))

    def extra_repr(self) -> str:
        return f"nonfinite='{self.nonfinite}'"
