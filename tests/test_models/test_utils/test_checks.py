# Copyright (c) mmgcp contributors. All rights reserved.
"""Every module with a dropout or drop-path rate refuses one outside [0, 1) at construction,
naming the argument, before anything is built."""
import pytest

from mmgcp.models import (
    DenseTokenViT,
    DropoutLinearClsHead,
    ElementDropCovClsHead,
    MultiHeadCovClsHead,
)

HEAD = dict(num_classes=5, in_channels=12, num_heads=2, head_channels=3)


@pytest.mark.parametrize('build, name', [
    (lambda rate: DropoutLinearClsHead(5, 12, dropout_rate=rate), 'dropout_rate'),
    (lambda rate: ElementDropCovClsHead(**HEAD, qk_dropout=rate), 'qk_dropout'),
    (lambda rate: ElementDropCovClsHead(**HEAD, cov_dropout=rate), 'cov_dropout'),
    (lambda rate: MultiHeadCovClsHead(**HEAD, token_drop=rate), 'token_drop'),
    (lambda rate: MultiHeadCovClsHead(**HEAD, cov_dropout=rate), 'cov_dropout'),
    (lambda rate: DenseTokenViT(arch='tiny', drop_path_rate=rate), 'drop_path_rate'),
    (lambda rate: DenseTokenViT(arch='tiny', attn_drop_rate=rate), 'attn_drop_rate'),
])
@pytest.mark.parametrize('rate', [1.0, -0.1])
def test_rate_outside_unit_interval_is_refused(build, name, rate):
    with pytest.raises(ValueError, match=rf'^{name} must be in \[0, 1\), got {rate}\.$'):
        build(rate)


def test_rates_inside_unit_interval_build():
    assert MultiHeadCovClsHead(**HEAD, token_drop=0.0, cov_dropout=0.99).token_drop == 0.0
    assert DropoutLinearClsHead(5, 12, dropout_rate=0.5).dropout.p == 0.5
