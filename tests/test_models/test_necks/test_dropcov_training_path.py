# Copyright (c) mmgcp contributors. All rights reserved.
"""DropCovNeck's training path in float64 against DropCov written from its definition
(GCP_FACTS.md section 2), with the dropout mask fixed by the seed of the draw.

Training: ECA attention ``w = softmax(conv1d_k3(GAP(x)))``, ``x' = x * w + x``, the rate
``p = clamp(1 - (10 / log2 d) mean_b cos(w_b, rowsum(cov(x'_b))), 0, 1)`` (no gradient), whole
channels dropped with probability ``p`` and the survivors scaled by ``1 / (1 - p)``, then the
covariance and its upper triangle.
"""
import math

import pytest
import torch

from mmgcp.models import DropCovNeck

#: ECA kernel (k = 3), chosen by hand: asymmetric, so that a flipped or shifted convolution shows.
KERNEL = (0.8, -1.5, 2.0)
#: 64 channels, 4 x 4 positions: the rate lands inside (0, 1) for these features (checked below).
BATCH, CHANNELS, SIZE = 4, 64, 4


def eca_weights(x: torch.Tensor, kernel) -> torch.Tensor:
    """Softmax over channels of ``z_i = k0 g_{i-1} + k1 g_i + k2 g_{i+1}`` (zero padded), g: GAP."""
    pooled = x.mean(dim=(2, 3))
    channels = pooled.shape[1]
    columns = []
    for i in range(channels):
        z = kernel[1] * pooled[:, i]
        if i > 0:
            z = z + kernel[0] * pooled[:, i - 1]
        if i < channels - 1:
            z = z + kernel[2] * pooled[:, i + 1]
        columns.append(z)
    z = torch.stack(columns, dim=1)
    return z.exp() / z.exp().sum(dim=1, keepdim=True)


def dropcov_reference(x, kernel, noise, reference):
    """Training output of DropCov (vector) and the rate p, from the definition."""
    weights = eca_weights(x, kernel)
    attended = x * weights[:, :, None, None] + x
    with torch.no_grad():  # the rate carries no gradient
        row_sums = reference.covariance(attended).sum(dim=2)
        cosine = (weights * row_sums).sum(1) / (weights.norm(dim=1) * row_sums.norm(dim=1))
        rate = (1 - 10 / math.log2(x.shape[1]) * cosine.mean()).clamp(0, 1)
    keep = (noise >= rate).to(x.dtype)
    dropped = attended * keep[:, :, None, None] / (1 - rate)
    return reference.triu(reference.covariance(dropped)), rate, keep


def _neck_and_inputs(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    neck = DropCovNeck(in_channels=CHANNELS, reduced_channels=None).double().train()
    with torch.no_grad():
        neck.attention.conv.weight.copy_(torch.tensor(KERNEL, dtype=torch.float64).view(1, 1, 3))
    x = torch.randn(BATCH, CHANNELS, SIZE, SIZE, dtype=torch.float64, generator=generator)
    return neck, x


@pytest.mark.parametrize('seed', [0, 1])
def test_training_output_and_gradients_match_the_definition(seed, reference):
    neck, x = _neck_and_inputs(seed)
    mask_seed = 100 + seed
    torch.manual_seed(mask_seed)
    leaf = x.clone().requires_grad_()
    (out, ) = neck(leaf)
    # the op draws its mask as torch.rand(B, d) (kept where >= p): the same draw, same seed
    noise = torch.rand((BATCH, CHANNELS), generator=torch.Generator().manual_seed(mask_seed))
    kernel = torch.tensor(KERNEL, dtype=torch.float64, requires_grad=True)
    ref_leaf = x.clone().requires_grad_()
    expected, rate, keep = dropcov_reference(ref_leaf, kernel, noise, reference)

    assert 0.05 < float(rate) < 0.95  # the rate rule and the mask both matter here
    assert 0 < int(keep.sum()) < keep.numel()
    assert neck.last_drop_rate == pytest.approx(float(rate), rel=1e-12)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-12)
    # dropped channels have no variance: the mask can be read back from the output's diagonal
    diagonal = torch.stack([out[:, i * CHANNELS - i * (i - 1) // 2] for i in range(CHANNELS)], 1)
    assert torch.equal(diagonal > 0, keep > 0)

    # gradients into the features and the ECA kernel (through w, not through p)
    projection = torch.randn(out.shape, generator=torch.Generator().manual_seed(7),
                             dtype=torch.float64)
    (out * projection).sum().backward()
    (expected * projection).sum().backward()
    torch.testing.assert_close(leaf.grad, ref_leaf.grad, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(neck.attention.conv.weight.grad.view(3), kernel.grad, rtol=1e-9,
                               atol=1e-12)


def test_eval_is_the_plain_covariance_without_attention_or_dropout(reference):
    neck, x = _neck_and_inputs()
    (out, ) = neck.eval()(x)
    torch.testing.assert_close(out, reference.triu(reference.covariance(x)), rtol=1e-12,
                               atol=1e-12)
