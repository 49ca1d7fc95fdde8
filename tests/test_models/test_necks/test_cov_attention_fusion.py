# Copyright (c) mmgcp contributors. All rights reserved.
"""CovAttentionNeck's fusion in float64 against the formulas of its docstring, every MLP layer
random (not the zero start): ``z`` = row means of iSQRT(cov(reduce(x_last))),
``m_l = W2 relu(W1 z + b1) + b2`` per level, ``'add'``: ``x_l + m_l``, ``'scale'``:
``x_l * 2 sigmoid(m_l)``, broadcast over positions."""
import math

import pytest
import torch

from mmgcp.models import CovAttentionNeck

IN_CHANNELS = [4, 6, 8]


def _reduce(neck, x):
    """1x1 conv, BN with its running statistics (eval mode), ReLU."""
    conv = neck.reduction.conv.weight[:, :, 0, 0]
    bn = neck.reduction.bn
    out = torch.einsum('oc,bchw->bohw', conv, x)
    out = ((out - bn.running_mean[:, None, None]) / (bn.running_var[:, None, None] + bn.eps).sqrt()
           * bn.weight[:, None, None] + bn.bias[:, None, None])
    return out.clamp(min=0)


def _mlp(z, mlp):
    first, last = mlp[0], mlp[-1]
    hidden = (z @ first.weight.T + first.bias).clamp(min=0)
    return hidden @ last.weight.T + last.bias


@pytest.mark.parametrize('fusion', ['add', 'scale'])
def test_fusion_matches_the_formula(fusion, reference):
    generator = torch.Generator().manual_seed(0)
    neck = CovAttentionNeck(IN_CHANNELS, reduced_channels=5, hidden_channels=7,
                            fusion=fusion).double().eval()
    with torch.no_grad():
        for param in neck.parameters():
            param.copy_(torch.randn(param.shape, generator=generator, dtype=torch.float64) * 0.5)
        neck.reduction.bn.running_mean.uniform_(-0.3, 0.3, generator=generator)
        neck.reduction.bn.running_var.uniform_(0.5, 2.0, generator=generator)
    feats = [torch.randn(2, c, s, s, generator=generator, dtype=torch.float64)
             for c, s in zip(IN_CHANNELS, (8, 4, 3))]
    outs = neck(feats)

    z = reference.isqrt(reference.covariance(_reduce(neck, feats[-1])), num_iters=5).mean(dim=2)
    for level, (x, mlp, out) in enumerate(zip(feats, neck.level_mlps, outs)):
        m = _mlp(z, mlp)
        assert m.shape == (2, IN_CHANNELS[level])
        expected = torch.empty_like(x)
        for b in range(x.shape[0]):
            for c in range(x.shape[1]):
                value = m[b, c].item()
                if fusion == 'add':
                    expected[b, c] = x[b, c] + value
                else:
                    expected[b, c] = x[b, c] * 2 / (1 + math.exp(-value))
        assert out.shape == x.shape
        torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-12)
