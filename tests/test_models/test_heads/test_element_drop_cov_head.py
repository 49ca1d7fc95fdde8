# Copyright (c) mmgcp contributors. All rights reserved.
import pytest
import torch

from mmgcp.models import ElementDropCovClsHead
from mmgcp.ops import cross_covariance


def _head(**kwargs):
    kwargs = dict(num_classes=5, in_channels=12, num_heads=2, head_channels=3, **kwargs)
    head = ElementDropCovClsHead(**kwargs)
    head.init_weights()
    return head


def test_eval_logits_are_covariance_plus_class_token_logits():
    torch.manual_seed(0)
    head = _head().eval()
    tokens = torch.randn(2, 1 + 9, 12)
    with torch.no_grad():
        logits = head((tokens, ))
        qk = head.qk(tokens[:, 1:]).view(2, 9, 2, 2, 3)
        q, k = qk[:, :, 0].transpose(1, 2), qk[:, :, 1].transpose(1, 2)  # B x heads x N x c
        mu_q, mu_k = q.mean(2, keepdim=True), k.mean(2, keepdim=True)
        cov = (q - mu_q).transpose(-1, -2) @ (k - mu_k) / 9
        expected = head.fc_visual(cov.flatten(1)) + head.fc_cls(tokens[:, 0])
    assert logits.shape == (2, 5)
    torch.testing.assert_close(logits, expected)
    torch.testing.assert_close(cross_covariance(q, k), cov)


def test_training_uses_dropout_and_backpropagates():
    torch.manual_seed(0)
    head = _head().train()
    tokens = torch.randn(2, 10, 12, requires_grad=True)
    first, second = head((tokens, )), head((tokens, ))
    assert not torch.allclose(first, second)  # dropout masks differ
    first.sum().backward()
    assert head.qk.weight.grad.abs().sum() > 0 and tokens.grad.abs().sum() > 0


def test_deit_small_dropcov_shapes_and_errors():
    head = ElementDropCovClsHead(num_classes=1000, in_channels=384)
    assert head.fc_visual.in_features == 6 * 24 * 24 == 3456
    with pytest.raises(ValueError, match="out_type='raw'"):
        head((torch.randn(2, 384), ))
    with pytest.raises(ValueError, match='qk_dropout'):
        ElementDropCovClsHead(num_classes=2, in_channels=8, qk_dropout=1.0)


def test_old_name_says_the_new_one():
    from mmgcp.registry import MODELS
    with pytest.raises(TypeError, match='ElementDropCovClsHead') as info:
        MODELS.build(dict(type='mmgcp.TokenCovClsHead', num_classes=2, in_channels=8))
    assert 'MultiHeadCovClsHead' in str(info.value)
