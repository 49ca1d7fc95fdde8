# Copyright (c) mmgcp contributors. All rights reserved.
"""The non-finite guard of the GCP operators: raise on NaN/Inf, or skip those samples.

Two ways to check. Eagerly (the default, and every call outside a recording module): the
operator looks at its input and raises :class:`NonFiniteError` or warns at once, which copies a
flag from the device to the host (a synchronisation on a GPU). Deferred: inside
``with record.scope():`` of a :class:`NonFiniteRecord` whose ``deferred`` flag is set (by
``mmgcp.NonFiniteCheckHook`` for the GCP modules of a model it trains), the operators only add
the per-sample flags to the record on the device ('skip' still zeroes the bad samples, with
``torch.where``), and the hook reads the record where training synchronises anyway (after each
iteration, where the losses are logged): it names the module, the operator and the batch
indices, and raises for 'raise'.
"""
import threading
import warnings
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Tuple

import torch
import torch.nn as nn
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


class NonFiniteCountingModule(nn.Module):
    """Base of the operators' module forms: the ``nonfinite`` policy and what it skipped.

    Args:
        nonfinite (str): ``'raise'`` or ``'skip'``. Defaults to ``'raise'``.

    Attributes:
        num_skipped (int): Samples skipped so far because of NaN/Inf (``nonfinite='skip'``).
    """

    def __init__(self, nonfinite: str = 'raise'):
        super().__init__()
        check_nonfinite_mode(nonfinite)
        self.nonfinite = nonfinite
        self.num_skipped = 0

    def counted(self, result: Tuple[Tensor, int]) -> Tensor:
        """The output of an operator's ``(output, number of skipped samples)``, counting them."""
        out, num_skipped = result
        self.num_skipped += num_skipped
        return out


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


def nonfinite_mask(x: Tensor) -> Tensor:
    """Per-sample flags of NaN/Inf along dim 0, computed on the device without a host sync.

    One pass over ``x`` (its per-sample minimum and maximum, which are NaN or infinite exactly
    when a value is), no temporary of the size of ``x``.

    Args:
        x (Tensor): A batch, ``B x ...``.

    Returns:
        Tensor: Boolean mask of shape ``B`` on the device of ``x`` (True for a bad sample).
    """
    if x.dim() == 0:
        x = x.reshape(1)
    flat = x.detach().reshape(x.shape[0], -1)
    if flat.shape[1] == 0 or not flat.is_floating_point():
        return torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    low, high = torch.aminmax(flat, dim=1)
    return ~(torch.isfinite(low) & torch.isfinite(high))


class NonFiniteRecord:
    """Device-side record of the samples with NaN/Inf seen by the GCP operators of one module.

    A GCP module owns one (attribute ``nonfinite_record``) and runs its operators inside
    :meth:`scope`. While ``deferred`` is False (nobody reads the record) the operators check
    eagerly, as without a record. ``mmgcp.NonFiniteCheckHook`` sets ``deferred`` for every record
    of the model it trains and calls :meth:`collect` after each iteration.

    Args:
        mode (str): The module's policy, ``'raise'`` or ``'skip'``: what the reader of the record
            does with bad samples. Defaults to ``'raise'``.

    Attributes:
        deferred (bool): Whether the operators record instead of checking eagerly.
        num_forwards (int): Forward passes recorded since the last :meth:`collect`.
    """

    def __init__(self, mode: str = 'raise'):
        check_nonfinite_mode(mode)
        self.mode = mode
        self.deferred = False
        self.num_forwards = 0
        # op name -> [count (int64, 0-d), union of the per-sample masks (bool, max batch size)]
        self._entries: Dict[str, List[Tensor]] = {}

    @contextmanager
    def scope(self) -> Iterator['NonFiniteRecord']:
        """Make this record the one the GCP operators report to in the block."""
        stack = _active_records()
        stack.append(self)
        self.num_forwards += 1
        try:
            yield self
        finally:
            stack.pop()

    def add(self, op: str, bad: Tensor) -> None:
        """Add the per-sample flags ``bad`` (``B``, bool) of operator ``op``; no host sync."""
        bad = bad.detach()
        entry = self._entries.get(op)
        if entry is None or entry[1].device != bad.device:
            self._entries[op] = [bad.sum(), bad.clone()]
            return
        count, mask = entry
        count.add_(bad.sum())
        if mask.shape[0] < bad.shape[0]:
            mask = torch.cat([mask, bad.new_zeros(bad.shape[0] - mask.shape[0])])
            entry[1] = mask
        mask[:bad.shape[0]] |= bad

    def collect(self) -> List[Tuple[str, int, List[int]]]:
        """Read and reset the record: one device-to-host copy, so call it where training syncs.

        Returns:
            list[tuple[str, int, list[int]]]: For each operator that saw bad samples since the
            last call: its name, the number of bad samples (summed over the forward passes) and
            the batch indices that were bad in any of them.
        """
        entries, self._entries = self._entries, {}
        self.num_forwards = 0
        if not entries:
            return []
        device = next(iter(entries.values()))[0].device
        counts = torch.stack([count.to(device) for count, _ in entries.values()]).tolist()
        return [(op, num_bad, mask.nonzero().flatten().tolist())
                for (op, (_, mask)), num_bad in zip(entries.items(), counts) if num_bad]

    def __repr__(self) -> str:
        return f"NonFiniteRecord(mode='{self.mode}', deferred={self.deferred})"


_local = threading.local()


def _active_records() -> List[NonFiniteRecord]:
    if not hasattr(_local, 'records'):
        _local.records = []
        _local.eager = 0
    return _local.records


def current_record() -> Optional[NonFiniteRecord]:
    """The deferred record the operators report to here, or None (check eagerly)."""
    stack = _active_records()
    if not stack or _local.eager or not stack[-1].deferred:
        return None
    return stack[-1]


@contextmanager
def eager_nonfinite_checks() -> Iterator[None]:
    """Check eagerly in the block, even inside a deferred record's scope.

    For side computations that expect :class:`NonFiniteError` at once (the loss-landscape probe
    evaluates deliberately large steps) and whose bad samples are no training failure.
    """
    _active_records()
    _local.eager += 1
    try:
        yield
    finally:
        _local.eager -= 1


def format_indices(indices: List[int]) -> str:
    """``[i, j, ...]``, at most 16 shown."""
    shown = ', '.join(str(i) for i in indices[:16])
    if len(indices) > 16:
        shown += f', ... ({len(indices)} in all)'
    return f'[{shown}]'


def _format_indices(bad: Tensor) -> str:
    indices = bad.nonzero().flatten().tolist()
    return format_indices(indices)


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

    Inside the scope of a deferred :class:`NonFiniteRecord` (see the module docstring) nothing
    is read back from the device: the flags go to the record, 'skip' zeroes the bad samples
    with ``torch.where`` and the returned count is 0 (the reader of the record counts them).

    Returns:
        tuple[Tensor, int]: The (possibly cleaned) input and the number of skipped samples.
    """
    check_nonfinite_mode(nonfinite)
    record = current_record()
    if record is not None:
        if bad is None:
            bad = nonfinite_mask(x)
        record.add(op, bad)
        if nonfinite == 'skip':
            keep = (~bad).view(-1, *([1] * (x.dim() - 1)))
            x = torch.where(keep, x, torch.zeros((), dtype=x.dtype, device=x.device))
        return x, 0
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


def count_skipped_samples(num: int) -> None:
    """Add ``num`` to :func:`num_skipped_samples` (for readers of deferred records)."""
    _count_skipped(num)


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
