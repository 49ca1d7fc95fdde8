# Copyright (c) mmgcp contributors. All rights reserved.
"""The non-finite guard of the GCP operators: raise on NaN/Inf, or skip those samples."""
import warnings
from typing import Optional, Tuple

import torch
from torch import Tensor

NONFINITE_MODES = ('raise', 'skip')

_num_skipped = 0


class NonFiniteError(ValueError):
    """NaN or Inf values reached a GCP operator.

    Raised with the operator name and the batch indices of the offending samples. A subclass of
    ValueError, so ``except ValueError`` also catches it.
    """


def check_nonfinite_mode(nonfinite: str) -> None:
    """Raise ValueError unless ``nonfinite`` is one of :data:`NONFINITE_MODES`."""
    if nonfinite not in NONFINITE_MODES:
        raise ValueError(f"nonfinite='{nonfinite}' is not supported; use 'raise' (stop with the "
                         f"batch indices) or 'skip' (zero those samples and count them).")


def nonfinite_samples(x: Tensor) -> Optional[Tensor]:
    """Find the samples (along dim 0) of ``x`` that hold NaN or Inf.

    The common, all-finite path costs one reduction: a NaN or Inf anywhere makes the sum
    non-finite, and only then (or if the sum of finite values overflows) are the samples
    checked one by one.

    Args:
        x (Tensor): A batch, ``B x ...``.

    Returns:
        Tensor | None: Boolean mask of shape ``B`` (True for a bad sample), or None when every
        value is finite.
    """
    if x.numel() == 0:
        return None
    accumulate = torch.float64 if x.dtype == torch.float64 else torch.float32
    if bool(torch.isfinite(x.sum(dtype=accumulate))):
        return None
    bad = ~torch.isfinite(x.reshape(x.shape[0], -1)).all(dim=1)
    return bad if bool(bad.any()) else None


def _format_indices(bad: Tensor) -> str:
    indices = bad.nonzero().flatten().tolist()
    shown = ', '.join(str(i) for i in indices[:16])
    if len(indices) > 16:
        shown += f', ... ({len(indices)} in all)'
    return f'[{shown}]'


def handle_nonfinite(x: Tensor,
                     op: str,
                     nonfinite: str = 'raise',
                     bad: Optional[Tensor] = None) -> Tuple[Tensor, int]:
    """Apply the non-finite policy of an operator to its input.

    Args:
        x (Tensor): Input batch, ``B x ...``.
        op (str): Operator name for the message.
        nonfinite (str): ``'raise'``: raise :class:`NonFiniteError` naming ``op`` and the batch
            indices. ``'skip'``: replace the bad samples by zeros (the operators then output
            zeros for them and pass no gradient to them) and count them. Defaults to 'raise'.
        bad (Tensor, optional): A precomputed mask from :func:`nonfinite_samples`; when given
            the input is not scanned again. Defaults to None.

    Returns:
        tuple[Tensor, int]: The (possibly cleaned) input and the number of skipped samples.
    """
    check_nonfinite_mode(nonfinite)
    if bad is None:
        bad = nonfinite_samples(x)
    if bad is None or not bool(bad.any()):
        return x, 0
    if nonfinite == 'raise':
        raise NonFiniteError(
            f'{op}: the input holds NaN or Inf in batch indices {_format_indices(bad)} (batch '
            f'size {x.shape[0]}). Find what produced them (learning rate, data, fp16 overflow), '
            f"or pass nonfinite='skip' to zero these samples and count them.")
    num_bad = int(bad.sum())
    keep = (~bad).view(-1, *([1] * (x.dim() - 1)))
    x = torch.where(keep, x, torch.zeros((), dtype=x.dtype, device=x.device))
    _count_skipped(num_bad)
    warnings.warn(f'{op}: skipped {num_bad} sample(s) with NaN or Inf (outputs set to zero).')
    return x, num_bad


def _count_skipped(num: int) -> None:
    global _num_skipped
    _num_skipped += num


def num_skipped_samples() -> int:
    """Samples skipped by ``nonfinite='skip'`` in this process, over all GCP operators."""
    return _num_skipped


def reset_num_skipped_samples() -> None:
    """Set the process-wide count of :func:`num_skipped_samples` back to zero."""
    global _num_skipped
    _num_skipped = 0
