# Copyright (c) mmgcp contributors. All rights reserved.
"""Tests of mmgcp/ops/nonfinite.py: the guard shared by the GCP operators."""
import pytest
import torch

from mmgcp.ops import (
    NonFiniteError,
    handle_nonfinite,
    num_skipped_samples,
    reset_num_skipped_samples,
)


def test_finite_input_passes_untouched_even_if_its_sum_overflows():
    for x in (torch.randn(3, 4, 5), torch.full((2, 3), 3e38), torch.full((2, 3), 6e4).half()):
        out, skipped = handle_nonfinite(x, 'op')
        assert out is x and skipped == 0


def test_raise_names_op_and_indices():
    x = torch.zeros(40, 3)
    x[[4, 7, 20], 1] = torch.tensor([float('nan'), float('inf'), -float('inf')])
    with pytest.raises(NonFiniteError, match=r"my_op: .*\[4, 7, 20\].*batch size 40.*'skip'"):
        handle_nonfinite(x, 'my_op')
    assert issubclass(NonFiniteError, ValueError)


def test_skip_zeroes_and_counts():
    reset_num_skipped_samples()
    x = torch.ones(3, 2, 2, dtype=torch.float16)
    x[0, 1, 1] = float('nan')
    with pytest.warns(UserWarning, match='skipped 1'):
        out, skipped = handle_nonfinite(x, 'op', 'skip')
    assert skipped == 1 and num_skipped_samples() == 1
    assert out.dtype == torch.float16 and not out[0].any() and torch.equal(out[1:], x[1:])
    reset_num_skipped_samples()
    assert num_skipped_samples() == 0
    with pytest.raises(ValueError, match="nonfinite='zero'"):
        handle_nonfinite(x, 'op', 'zero')
