# Copyright (c) mmgcp contributors. All rights reserved.
"""Input checks and precision helpers shared by the GCP operators."""
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import Tensor


def to_compute_dtype(x: Tensor, op: str, arg: str = 'x') -> Tensor:
    """Return ``x`` in the dtype the GCP math runs in.

    float64 stays float64; float32 stays; half types (fp16, bf16, fp8) are promoted to float32,
    because the covariance, the trace and the Newton-Schulz iterates overflow or lose all precision
    in half precision (a trace above ~256 already overflows fp16 in the reference backward).

    Args:
        x (Tensor): Input of the operator.
        op (str): Operator name, for the error message.
        arg (str): Argument name, for the error message. Defaults to ``'x'``.

    Returns:
        Tensor: ``x`` as float32 or float64 (a differentiable cast).
    """
    if not isinstance(x, Tensor):
        raise TypeError(f'{op} expects {arg} to be a torch.Tensor, got {type(x).__name__}.')
    if not x.is_floating_point():
        raise TypeError(f'{op} expects a floating-point {arg}, got {x.dtype}; convert it with '
                        f'{arg}.float() first.')
    if x.dtype in (torch.float32, torch.float64):
        return x
    return x.float()


@contextmanager
def autocast_disabled(device_type: str) -> Iterator[None]:
    """Run the block without autocast on ``device_type`` (a no-op when autocast is off)."""
    try:
        enabled = torch.is_autocast_enabled(device_type)
    except (RuntimeError, TypeError, ValueError):  # a device type autocast does not know
        enabled = False
    if enabled:
        with torch.autocast(device_type=device_type, enabled=False):
            yield
    else:
        yield


def check_square_batch(x: Tensor, op: str, arg: str = 'sigma') -> None:
    """Raise ValueError unless ``x`` is a batch of square matrices, ``B x d x d``."""
    if x.dim() < 3 or x.shape[-1] != x.shape[-2]:
        raise ValueError(
            f'{op} expects {arg} of shape B x d x d (a batch of square, symmetric matrices), got '
            f'{tuple(x.shape)}. Add a batch dimension with {arg}.unsqueeze(0) for one matrix.')
    if x.shape[-1] == 0:
        raise ValueError(f'{op} expects {arg} with d >= 1, got shape {tuple(x.shape)}.')


def check_num_iters(num_iters: int, op: str) -> None:
    """Raise ValueError unless ``num_iters`` is an integer >= 1."""
    if isinstance(num_iters, bool) or not isinstance(num_iters, int) or num_iters < 1:
        raise ValueError(f'{op} expects num_iters to be an integer >= 1 (5 in every published '
                         f'model), got {num_iters!r}.')


def check_eps(eps: float, op: str) -> None:
    """Raise ValueError unless ``eps`` is a positive finite number."""
    if not (isinstance(eps, (int, float)) and 0 < float(eps) < float('inf')):
        raise ValueError(f'{op} expects eps to be a positive number, got {eps!r}.')


def sym(x: Tensor) -> Tensor:
    """Symmetric part ``(x + x^T) / 2`` of a batch of square matrices."""
    return x.add(x.mT).mul_(0.5)


def batch_inner(a: Tensor, b: Tensor) -> Tensor:
    """Frobenius inner product ``<a_b, b_b>`` per batch element: ``B x n x n -> B``.

    A batched dot product: no temporary of the size of ``a``.
    """
    if a.is_contiguous() and b.is_contiguous() and a.dim() == 3:
        batch = a.shape[0]
        return torch.bmm(a.reshape(batch, 1, -1), b.reshape(batch, -1, 1)).view(batch)
    return (a * b).sum(dim=(-2, -1))
