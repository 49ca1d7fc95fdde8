# Copyright (c) mmgcp contributors. All rights reserved.
"""Tests of mmgcp/ops/dropcov.py: the DropCov rate rule and the channel dropout."""
import math

import pytest
import torch
import torch.nn.functional as F

from mmgcp.ops import AdaptiveChannelDropout, adaptive_channel_dropout, covariance, drop_rate


def inputs(batch=4, channels=64, size=5, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, channels, size, size, generator=generator).relu()
    weights = torch.randn(batch, channels, generator=generator).softmax(dim=1)
    return x * weights[:, :, None, None] + x, weights


def direct_rate(x, weights):
    """Steps 2-4 of DropCov, written directly from the definition."""
    row_sums = covariance(x.double()).sum(dim=2)
    cosine = F.cosine_similarity(weights.double(), row_sums, dim=1)
    rate = 1 - 10 / math.log2(x.shape[1]) * cosine.mean()
    return float(rate.clamp(0, 1))


def weights_with_cosine(x, cosines, seed=0):
    """Weights whose cosine with the covariance row sums is ``cosines[b]`` for sample b."""
    row_sums = F.normalize(covariance(x).sum(dim=2), dim=1)
    noise = torch.randn(row_sums.shape, generator=torch.Generator().manual_seed(seed))
    noise = F.normalize(noise - (noise * row_sums).sum(1, keepdim=True) * row_sums, dim=1)
    cosines = torch.tensor(cosines)[:, None]
    return cosines * row_sums + (1 - cosines**2).sqrt() * noise


@pytest.mark.parametrize('cosines', [(0.1, 0.3, 0.5, 0.2), (0.9, -0.2, 0.4, 0.0)])
def test_rate_matches_direct_computation(cosines):
    x, _ = inputs()
    weights = weights_with_cosine(x, cosines)
    expected = direct_rate(x, weights)
    assert expected == pytest.approx(1 - 10 / 6 * sum(cosines) / 4, abs=1e-5)  # d = 64
    assert 0 < expected < 1
    rate = drop_rate(x, weights)
    # a 0-d tensor on the input's device: never turned into a float (a host sync on a GPU)
    assert isinstance(rate, torch.Tensor) and rate.dim() == 0 and rate.device == x.device
    assert float(rate) == pytest.approx(expected, abs=1e-6)
    _, rate = adaptive_channel_dropout(x, weights, generator=torch.Generator().manual_seed(0))
    assert isinstance(rate, torch.Tensor) and float(rate) == pytest.approx(expected, abs=1e-6)


def test_mask_drops_whole_channels_and_rescales():
    x, weights = inputs()
    out, rate = adaptive_channel_dropout(x, weights, generator=torch.Generator().manual_seed(1))
    assert 0 < rate < 1
    kept = out.flatten(2).abs().sum(-1) > 0
    assert 0 < int(kept.sum()) < kept.numel()
    torch.testing.assert_close(out[kept], x[kept] / (1 - rate))
    assert not out[~kept].any()


def test_deterministic_with_generator():
    x, weights = inputs()
    first, _ = adaptive_channel_dropout(x, weights, generator=torch.Generator().manual_seed(7))
    second, _ = adaptive_channel_dropout(x, weights, generator=torch.Generator().manual_seed(7))
    other, _ = adaptive_channel_dropout(x, weights, generator=torch.Generator().manual_seed(8))
    assert torch.equal(first, second)
    assert not torch.equal(first, other)


def test_rate_one_and_zero():
    x, _ = inputs()
    row_sums = covariance(x).sum(dim=2)
    leaf = x.clone().requires_grad_()
    out, rate = adaptive_channel_dropout(leaf, -row_sums)  # cosine -1 -> p = 1
    assert rate == 1.0 and torch.isfinite(out).all() and not out.any()
    out.sum().backward()
    assert torch.isfinite(leaf.grad).all()
    out, rate = adaptive_channel_dropout(x, row_sums)  # cosine 1 -> p = clamp(1 - 10/6) = 0
    assert rate == 0.0 and torch.equal(out, x)


def test_gradient_flows_through_mask_only():
    x, weights = inputs()
    leaf, weights = x.clone().requires_grad_(), weights.clone().requires_grad_()
    out, rate = adaptive_channel_dropout(leaf, weights, generator=torch.Generator().manual_seed(2))
    out.sum().backward()
    assert weights.grad is None  # no gradient through the rate
    kept = (out.flatten(2).abs().sum(-1) > 0).float()
    expected = (kept / (1 - rate))[:, :, None, None].expand_as(x)
    torch.testing.assert_close(leaf.grad, expected)


def test_eval_mode_is_identity():
    x, weights = inputs()
    out, rate = adaptive_channel_dropout(x, weights, training=False)
    assert out is x and rate == 0.0
    module = AdaptiveChannelDropout().eval()
    out, rate = module(x, weights)
    assert out is x and rate == 0.0
    module.train()
    _, rate = module(x, weights, generator=torch.Generator().manual_seed(0))
    assert module.last_drop_rate == rate


def test_autocast_bf16():
    x, weights = inputs()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out, rate = adaptive_channel_dropout(x.bfloat16(), weights.bfloat16(),
                                             generator=torch.Generator().manual_seed(0))
    assert out.dtype == torch.bfloat16 and rate.dtype == torch.float32 and 0 <= rate <= 1


def test_shape_errors():
    x, weights = inputs()
    with pytest.raises(ValueError, match='B x d'):
        adaptive_channel_dropout(x, weights[:, :10])
    with pytest.raises(ValueError, match='B x d x H x W'):
        adaptive_channel_dropout(x.flatten(1), weights)
    with pytest.raises(ValueError, match='d >= 2'):
        adaptive_channel_dropout(x[:, :1], weights[:, :1])
