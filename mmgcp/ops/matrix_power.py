# Copyright (c) mmgcp contributors. All rights reserved.
"""MPN-COV: exact matrix power of symmetric PSD matrices by eigendecomposition.

Where the eigendecomposition runs is a choice (``eigh_device``): on the input's device (the
default), or on the CPU (``'cpu'``: the matrices are copied to the host, decomposed by LAPACK
and the eigenvectors copied back; the backward stays on the input's device). Batched ``eigh``
of d > 32 matrices is known to be slow on CUDA, but the offload costs two transfers and a host
sync per forward; ``tools/analysis/benchmark_ops.py --mode power`` measures both paths on the
machine at hand (docs/gpu.md). The default can be set for a whole process with the
environment variable ``MMGCP_EIGH_DEVICE`` (``input`` or ``cpu``).
"""
import os
from typing import Optional, Tuple

import torch
from torch import Tensor
from torch.autograd import Function
from torch.autograd.function import once_differentiable

from ._utils import autocast_disabled, check_eps, check_square_batch, sym, to_compute_dtype
from .nonfinite import NonFiniteCountingModule, check_nonfinite_mode, handle_nonfinite

#: Where the eigendecomposition of :func:`matrix_power` may run.
EIGH_DEVICES = ('input', 'cpu')


def _eigh_device(eigh_device: Optional[str], op: str) -> str:
    """Resolve ``eigh_device`` (None: ``$MMGCP_EIGH_DEVICE``, else ``'input'``) and check it."""
    if eigh_device is None:
        eigh_device = os.environ.get('MMGCP_EIGH_DEVICE', 'input') or 'input'
        source = 'the environment variable MMGCP_EIGH_DEVICE'
    else:
        source = 'eigh_device'
    if eigh_device not in EIGH_DEVICES:
        raise ValueError(f"{op}: {source}='{eigh_device}' is not supported; use 'input' (eigh "
                         f"on the input's device) or 'cpu' (offload the eigh to the host).")
    return eigh_device


#: Default floor of the eigenvalues in the derivative: ``l <- max(l, eps)`` when forming the
#: divided differences, so that ``alpha l^(alpha - 1)`` stays finite at zero eigenvalues.
MATRIX_POWER_EPS = 1e-10


def power_divided_differences(evals: Tensor, alpha: float, eps: float) -> Tensor:
    """Divided differences ``K_ij = (l_i^a - l_j^a) / (l_i - l_j)`` of ``l -> l^a``.

    ``K_ii = a l_i^(a-1)``. Eigenvalues are floored at ``eps`` first. Close pairs (ratio
    below e^0.5) use ``l_j^(a-1) expm1(a r) / expm1(r)`` with ``r = log(l_i / l_j)``, which is
    exact for repeated eigenvalues and free of cancellation; distant pairs use the quotient.

    Args:
        evals (Tensor): ``B x d`` eigenvalues.
        alpha (float): The exponent a.
        eps (float): Floor of the eigenvalues.

    Returns:
        Tensor: ``B x d x d`` symmetric, finite.
    """
    lam = evals.clamp_min(eps)
    lam_i, lam_j = lam.unsqueeze(-1), lam.unsqueeze(-2)
    powered = lam.pow(alpha)
    diff = lam_i - lam_j
    log_ratio = torch.log1p(diff / lam_j)
    close = log_ratio.abs() < 0.5
    one = torch.ones((), dtype=lam.dtype, device=lam.device)
    quotient = (powered.unsqueeze(-1) - powered.unsqueeze(-2)) / torch.where(close, one, diff)
    safe_log = torch.where(close, log_ratio, torch.zeros_like(log_ratio))
    denom = torch.expm1(safe_log)
    exact_zero = denom == 0
    ratio = torch.where(exact_zero, one * alpha,
                        torch.expm1(alpha * safe_log) / torch.where(exact_zero, one, denom))
    return torch.where(close, lam_j.pow(alpha - 1) * ratio, quotient)


class _MatrixPowerFunction(Function):
    """``U diag(max(l, 0)^a) U^T`` with a Daleckii-Krein backward that stays finite."""

    @staticmethod
    def forward(ctx, sigma: Tensor, alpha: float, eps: float, offload: bool) -> Tensor:
        # float64 eigendecomposition: in float32 the zero eigenvalues of a singular covariance
        # come out as +-1e-7 of the largest one, and l^alpha turns that into output noise of
        # ~1e-4 relative (sqrt(1e-7) ~ 3e-4).
        if offload and sigma.device.type != 'cpu':
            evals, evecs = torch.linalg.eigh(sigma.double().cpu())
            evals = evals.to(sigma.device, non_blocking=True)
            evecs = evecs.to(sigma.device, non_blocking=True)
        else:
            evals, evecs = torch.linalg.eigh(sigma.double())
        powered = evals.clamp_min(0).pow(alpha)
        ctx.alpha, ctx.eps = alpha, eps
        ctx.save_for_backward(evals, evecs)
        return torch.matmul(evecs * powered.unsqueeze(-2), evecs.mT).to(sigma.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> Tuple[Optional[Tensor], None, None, None]:
        evals, evecs = ctx.saved_tensors
        with autocast_disabled(grad.device.type):
            dtype = grad.dtype
            grad = sym(grad.to(evecs.dtype))
            inner = torch.matmul(torch.matmul(evecs.mT, grad), evecs)
            inner.mul_(power_divided_differences(evals, ctx.alpha, ctx.eps))
            grad_sigma = torch.matmul(torch.matmul(evecs, inner), evecs.mT)
        return grad_sigma.to(dtype), None, None, None


def _check_power_args(alpha: float, eps: float, nonfinite: str, op: str) -> None:
    if not (isinstance(alpha, (int, float)) and 0 < float(alpha) < float('inf')):
        raise ValueError(f'{op} expects alpha > 0 (0.5 is the square root), got {alpha!r}; '
                         f'negative powers of singular covariances are infinite.')
    check_eps(eps, op)
    check_nonfinite_mode(nonfinite)


def _matrix_power(sigma: Tensor,
                  alpha: float,
                  eps: float,
                  nonfinite: str,
                  eigh_device: Optional[str] = None) -> Tuple[Tensor, int]:
    _check_power_args(alpha, eps, nonfinite, 'matrix_power')
    offload = _eigh_device(eigh_device, 'matrix_power') == 'cpu'
    if not isinstance(sigma, Tensor):
        raise TypeError(f'matrix_power expects a torch.Tensor, got {type(sigma).__name__}.')
    check_square_batch(sigma, 'matrix_power')
    sigma, num_skipped = handle_nonfinite(sigma, 'matrix_power', nonfinite)
    with autocast_disabled(sigma.device.type):
        sigma = to_compute_dtype(sigma, 'matrix_power', 'sigma')
        out = _MatrixPowerFunction.apply(sigma, float(alpha), float(eps), offload)
    return out, num_skipped


def matrix_power(sigma: Tensor,
                 alpha: float = 0.5,
                 eps: float = MATRIX_POWER_EPS,
                 nonfinite: str = 'raise',
                 eigh_device: Optional[str] = None) -> Tensor:
    """Exact power ``Sigma^alpha`` of symmetric PSD matrices (MPN-COV).

    ``Sigma = U diag(l) U^T`` by ``torch.linalg.eigh`` (which reads the lower triangle), output
    ``U diag(max(l, 0)^alpha) U^T``: negative eigenvalues (round-off of singular matrices) are
    clamped to zero. The eigendecomposition runs in float64 (also for float32 inputs, which
    get a float32 output): a float32 ``eigh`` leaves zero eigenvalues of a singular covariance
    at about 1e-7 of the largest one, which ``l^alpha`` turns into output noise of ~1e-4.
    The backward is the Daleckii-Krein formula ``U (K o U^T G U) U^T`` with the divided
    differences ``K`` of :func:`power_divided_differences`, exact for repeated eigenvalues and
    finite for zero ones (eigenvalues are floored at ``eps`` there). Half-precision inputs
    (autocast) give float32 outputs; float64 stays float64.

    Args:
        sigma (Tensor): ``B x d x d`` symmetric PSD matrices.
        alpha (float): Exponent > 0. Defaults to 0.5.
        eps (float): Floor of the eigenvalues in the derivative. Defaults to
            :data:`MATRIX_POWER_EPS` (1e-10).
        nonfinite (str): ``'raise'`` or ``'skip'``, as in :func:`isqrt`. Defaults to
            ``'raise'``.
        eigh_device (str, optional): ``'input'`` runs the eigendecomposition on the input's
            device, ``'cpu'`` offloads it to the host (a sync and two copies per call; the
            backward stays on the device). None: ``$MMGCP_EIGH_DEVICE``, else ``'input'``.
            Defaults to None.

    Returns:
        Tensor: ``B x d x d``. The backward returns the gradient with respect to the symmetric
        input (the output gradient is symmetrised).
    """
    return _matrix_power(sigma, alpha, eps, nonfinite, eigh_device)[0]


class MatrixPower(NonFiniteCountingModule):
    """Module form of :func:`matrix_power`.

    Args:
        alpha (float): Exponent > 0. Defaults to 0.5.
        eps (float): Floor of the eigenvalues in the derivative. Defaults to 1e-10.
        nonfinite (str): ``'raise'`` or ``'skip'``. Defaults to ``'raise'``.
        eigh_device (str, optional): See :func:`matrix_power`. Defaults to None.

    Attributes:
        num_skipped (int): Samples skipped so far because of NaN/Inf (``nonfinite='skip'``).
    """

    def __init__(self,
                 alpha: float = 0.5,
                 eps: float = MATRIX_POWER_EPS,
                 nonfinite: str = 'raise',
                 eigh_device: Optional[str] = None):
        _check_power_args(alpha, eps, nonfinite, 'MatrixPower')
        if eigh_device is not None:
            _eigh_device(eigh_device, 'MatrixPower')
        super().__init__(nonfinite)
        self.eigh_device = eigh_device
        self.alpha = alpha
        self.eps = eps

    def forward(self, sigma: Tensor) -> Tensor:
        """``B x d x d`` -> ``B x d x d``."""
        return self.counted(
            _matrix_power(sigma, self.alpha, self.eps, self.nonfinite, self.eigh_device))

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, eps={self.eps}, nonfinite='{self.nonfinite}'"
