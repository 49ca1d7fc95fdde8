# Copyright (c) mmgcp contributors. All rights reserved.
"""Tests of mmgcp/ops/nonfinite.py: the guard shared by the GCP operators."""
import pytest
import torch

from mmgcp.ops import (
    NonFiniteError,
    NonFiniteRecord,
    covariance,
    current_record,
    eager_nonfinite_checks,
    handle_nonfinite,
    nonfinite_mask,
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


def test_mask_flags_exactly_the_bad_samples_without_overflow_false_alarms():
    x = torch.full((5, 3, 2), 3e38)  # finite, although any sum overflows
    x[1, 0, 0], x[3, 2, 1], x[4, 1, 1] = float('nan'), float('inf'), -float('inf')
    assert nonfinite_mask(x).tolist() == [False, True, False, True, True]
    assert nonfinite_mask(x.half()).tolist() == [True] * 5  # 3e38 is inf in fp16
    assert nonfinite_mask(torch.zeros(3, 0)).tolist() == [False] * 3


def test_deferred_record_keeps_flags_on_the_device_until_collected():
    record = NonFiniteRecord('skip')
    bad = torch.ones(4, 3)
    bad[2, 1] = float('nan')
    with record.scope():  # not deferred: eager, as without a record
        assert current_record() is None
        with pytest.warns(UserWarning, match='skipped 1'):
            _, skipped = handle_nonfinite(bad, 'op', 'skip')
        assert skipped == 1
    record.deferred = True
    with record.scope():
        assert current_record() is record
        out, skipped = handle_nonfinite(bad, 'op', 'skip')
        assert skipped == 0 and not out[2].any() and torch.equal(out[3], bad[3])
        covariance(bad[:2, None])  # another op, a smaller batch: flags of sample 2 only above
        small = torch.ones(2, 3, 1)
        small[1, 0, 0] = float('inf')
        covariance(small)
        with eager_nonfinite_checks():
            assert current_record() is None
            with pytest.raises(NonFiniteError):
                covariance(small)
    assert current_record() is None
    assert sorted(record.collect()) == [('covariance', 1, [1]), ('op', 1, [2])]
    assert record.collect() == []  # reset


def test_record_rejects_unknown_modes():
    with pytest.raises(ValueError, match="nonfinite='warn'"):
        NonFiniteRecord('warn')
