# Copyright (c) mmgcp contributors. All rights reserved.
"""Tests of mmgcp/ops/padding.py: covariance over the valid positions of a padded batch.

The claim under test: the features of one image alone and the same features placed top-left in a
larger padded batch, next to another image of a different size, give the same covariance (and
post-normalised covariance) and the same gradient on the image's positions, with no gradient on
the padding. The reference is written here from the definition, one image at a time, with
explicit sums over the valid positions.
"""
import math

import pytest
import torch
import torch.nn as nn

from mmgcp.ops import (
    Covariance,
    CovarianceISqrt,
    NonFiniteError,
    covariance,
    covariance_isqrt,
    feature_stride,
    matrix_power,
    valid_feature_size,
    valid_position_mask,
)

ATOL = 1e-10


def reference_covariance(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """C x H x W features of one image -> C x C covariance of its top-left ``height x width``.

    ``mu = (1/M_i) sum x_m`` and ``Sigma = (1/M_i) sum (x_m - mu)(x_m - mu)^T``, summed position
    by position over the M_i = height * width valid positions.
    """
    channels = x.shape[0]
    count = height * width
    mean = torch.zeros(channels, dtype=torch.float64)
    for row in range(height):
        for col in range(width):
            mean += x[:, row, col]
    mean /= count
    sigma = torch.zeros(channels, channels, dtype=torch.float64)
    for row in range(height):
        for col in range(width):
            centred = x[:, row, col] - mean
            sigma += torch.outer(centred, centred)
    return sigma / count


def reference_isqrt(sigma: torch.Tensor, num_iters: int = 5) -> torch.Tensor:
    """The published coupled Newton-Schulz iteration with trace normalisation, one matrix."""
    eye = torch.eye(sigma.shape[-1], dtype=sigma.dtype)
    trace = sigma.trace()
    y, z = sigma / trace, eye
    for _ in range(num_iters - 1):
        t = 0.5 * (3 * eye - z @ y)
        y, z = y @ t, t @ z
    return 0.5 * y @ (3 * eye - z @ y) * trace.sqrt()


def reference_sqrtm(sigma: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(sigma)
    return vectors @ torch.diag(values.clamp_min(0).sqrt()) @ vectors.T


REFERENCES = {
    'covariance': lambda sigma: sigma,
    'isqrt': reference_isqrt,
    'power': reference_sqrtm,
}


def pooled(x, mask, post_norm):
    """The masked operator for ``post_norm`` (what normalized_covariance calls)."""
    if post_norm == 'isqrt':
        return covariance_isqrt(x, valid_mask=mask)
    sigma = covariance(x, valid_mask=mask)
    return matrix_power(sigma, alpha=0.5) if post_norm == 'power' else sigma


def padded_batch(channels, first, second, padded, padding_value, seed=0):
    """Two images' features, top-left in a ``padded`` batch; the padding holds ``padding_value``
    (a number, or 'noise' for large random values)."""
    generator = torch.Generator().manual_seed(seed)
    shape = (2, channels) + padded
    if padding_value == 'noise':
        batch = 50 * torch.randn(shape, generator=generator, dtype=torch.float64)
    else:
        batch = torch.full(shape, float(padding_value), dtype=torch.float64)
    mask = torch.zeros(2, *padded, dtype=torch.bool)
    images = []
    for index, (height, width) in enumerate((first, second)):
        image = torch.randn(channels, height, width, generator=generator, dtype=torch.float64)
        image = image.relu() + 0.1 * image  # not centred, skewed: like features after ReLU
        batch[index, :, :height, :width] = image
        mask[index, :height, :width] = True
        images.append(image)
    return images, batch, mask


# d = 12 < M_i: the d x d path; d = 40 > M: the Gram path (and d > M_i). The exact square root
# of a singular covariance (d > M_i) takes square roots of round-off eigenvalues (1e-8 from
# 1e-16, in any implementation): 'power' is compared on full-rank covariances.
@pytest.mark.parametrize('channels, post_norm', [(12, 'covariance'), (12, 'isqrt'),
                                                 (12, 'power'), (40, 'covariance'),
                                                 (40, 'isqrt')])
@pytest.mark.parametrize('method', ['eigh', 'iteration'])
def test_image_alone_and_padded_in_a_batch_agree(channels, post_norm, method, monkeypatch):
    monkeypatch.setenv('MMGCP_ISQRT_METHOD', method)
    first, second, padded = (5, 4), (3, 6), (6, 7)
    images, batch, mask = padded_batch(channels, first, second, padded, padding_value=0)
    weight = torch.randn(channels, channels, generator=torch.Generator().manual_seed(1),
                         dtype=torch.float64)

    alone = images[0][None].clone().requires_grad_(True)
    out_alone = pooled(alone, None, post_norm)
    (out_alone * weight).sum().backward()

    batch.requires_grad_(True)
    out_batch = pooled(batch, mask, post_norm)
    (out_batch * weight).sum().backward()

    reference = REFERENCES[post_norm]
    for index, (height, width) in enumerate((first, second)):
        expected = reference(reference_covariance(images[index], height, width))
        torch.testing.assert_close(out_batch[index], expected, rtol=0, atol=ATOL)
    torch.testing.assert_close(out_alone[0], out_batch[0], rtol=0, atol=ATOL)
    # the same gradient on the image's positions, none on the padding
    height, width = first
    torch.testing.assert_close(batch.grad[0, :, :height, :width], alone.grad[0], rtol=0,
                               atol=ATOL)
    assert alone.grad.abs().max() > 1e-3
    assert torch.equal(batch.grad[~mask[:, None].expand_as(batch)],
                       torch.zeros_like(batch.grad[~mask[:, None].expand_as(batch)]))


@pytest.mark.parametrize('padding_value', ['noise', float('nan'), float('inf')])
def test_whatever_the_padding_holds_is_ignored(padding_value):
    first, second, padded = (4, 5), (6, 3), (6, 6)
    images, batch, mask = padded_batch(8, first, second, padded, padding_value)
    batch.requires_grad_(True)
    out = covariance_isqrt(batch, valid_mask=mask)
    out.square().sum().backward()
    for index, (height, width) in enumerate((first, second)):
        expected = reference_isqrt(reference_covariance(images[index], height, width))
        torch.testing.assert_close(out[index], expected, rtol=0, atol=ATOL)
    assert torch.isfinite(batch.grad).all()
    assert not batch.grad[~mask[:, None].expand_as(batch)].any()


def test_nonfinite_values_on_valid_positions_are_still_caught():
    images, batch, mask = padded_batch(6, (3, 3), (4, 4), (4, 4), padding_value=0)
    batch[1, 2, 1, 1] = float('nan')
    with pytest.raises(NonFiniteError, match=r'\[1\]'):
        covariance(batch, valid_mask=mask)
    out = covariance_isqrt(batch, valid_mask=mask, nonfinite='skip')
    assert torch.isfinite(out).all() and not out[1].any() and out[0].abs().sum() > 0


def test_full_mask_is_the_unmasked_covariance():
    x = torch.randn(3, 7, 4, 5, dtype=torch.float64)
    everything = torch.ones(3, 4, 5, dtype=torch.bool)
    torch.testing.assert_close(covariance(x, valid_mask=everything), covariance(x))
    torch.testing.assert_close(covariance_isqrt(x, valid_mask=everything), covariance_isqrt(x))


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_masked_isqrt_under_autocast_runs_in_float32(dtype):
    images, batch, mask = padded_batch(16, (5, 6), (7, 3), (7, 7), padding_value=0)
    half = batch.to(dtype)
    with torch.autocast('cpu', dtype=dtype):
        out = covariance_isqrt(half, valid_mask=mask)
    assert out.dtype == torch.float32
    for index, (height, width) in enumerate(((5, 6), (7, 3))):
        # the reference sees the same rounded inputs, in float64
        rounded = half[index].double()
        expected = reference_isqrt(reference_covariance(rounded, height, width))
        torch.testing.assert_close(out[index].double(), expected, rtol=1e-4, atol=1e-5)


def test_module_forms_take_the_mask():
    images, batch, mask = padded_batch(10, (4, 4), (5, 2), (5, 5), padding_value=0)
    expected = reference_covariance(images[1], 5, 2)
    torch.testing.assert_close(Covariance()(batch, mask)[1], expected, rtol=0, atol=ATOL)
    torch.testing.assert_close(CovarianceISqrt()(batch, mask)[1], reference_isqrt(expected),
                               rtol=0, atol=ATOL)


def test_tokens_take_a_flat_mask():
    tokens = torch.randn(2, 9, 5, dtype=torch.float64)  # B x N x C
    mask = torch.ones(2, 9, dtype=torch.bool)
    mask[0, 6:] = False
    expected = reference_covariance(tokens[0, :6].T[:, :, None], 6, 1)
    torch.testing.assert_close(covariance(tokens, tokens=True, valid_mask=mask)[0], expected,
                               rtol=0, atol=ATOL)


@pytest.mark.parametrize('mask_shape', [(2, 4, 4), (3, 5, 5), (2, 24)])
def test_a_mask_of_another_shape_is_explained(mask_shape):
    x = torch.randn(2, 6, 5, 5)
    with pytest.raises(ValueError, match=r'valid_mask of shape B x H x W.*B = 2 and M = 25'):
        covariance_isqrt(x, valid_mask=torch.ones(mask_shape, dtype=torch.bool))
    with pytest.raises(TypeError, match='valid_mask to be a tensor'):
        covariance(x, valid_mask=[[True]])


def resnet_downsampling(stage_strides):
    """ResNet's downsampling layers, 1-D: 7x7/2 stem, 3x3/2 max pool, then per stage a 3x3/2
    convolution (pytorch style) for stride 2, or a 1x1/2 one (caffe style) when marked 'caffe'."""
    layers = [nn.Conv1d(1, 1, 7, stride=2, padding=3), nn.MaxPool1d(3, stride=2, padding=1)]
    for stride in stage_strides:
        if stride == 2:
            layers.append(nn.Conv1d(1, 1, 3, stride=2, padding=1))
        elif stride == 'caffe':
            layers.append(nn.Conv1d(1, 1, 1, stride=2))
    return nn.Sequential(*layers)


@pytest.mark.parametrize('stage_strides', [(1, 2, 2, 2), (1, 2, 2, 1), (1, 'caffe', 2, 'caffe')])
@pytest.mark.parametrize('padded', [64, 96, 131])
def test_valid_size_is_what_the_image_alone_gives(stage_strides, padded):
    """An image of size h padded to P: the valid part of the padded map has as many positions as
    the map of the image alone, at every stride of a ResNet (stride 1 or 2 in layer4, pytorch
    or caffe style, P a multiple of 32 or not)."""
    net = resnet_downsampling(stage_strides)
    with torch.no_grad():
        feature = net(torch.zeros(1, 1, padded)).shape[-1]
        for image in range(1, padded + 1):
            alone = net(torch.zeros(1, 1, image)).shape[-1]
            assert valid_feature_size(image, padded, feature) == alone, (image, padded, feature)


def test_position_j_is_centred_on_pixel_stride_times_j():
    """The receptive field of position j of a stride-32 ResNet map is symmetric around 32 j."""
    net = resnet_downsampling((1, 2, 2, 2))
    for layer in net:
        if isinstance(layer, nn.Conv1d):
            nn.init.constant_(layer.weight, 1.0)
            nn.init.zeros_(layer.bias)
    pixels = torch.zeros(1, 1, 1024, requires_grad=True)
    out = net(pixels + 1)  # positive everywhere: max pooling passes gradient to its argmax
    for j in (5, 9, 14):
        (grad, ) = torch.autograd.grad(out[0, 0, j], pixels, retain_graph=True)
        support = grad[0, 0].nonzero().flatten()
        assert (support.min() + support.max()) / 2 == pytest.approx(32 * j, abs=16)
    assert feature_stride(1024, out.shape[-1]) == 32


def test_feature_stride_and_its_errors():
    assert feature_stride(800, 25) == 32 and feature_stride(683, 22) == 32
    assert feature_stride(96, 2) == 64
    assert feature_stride(90, 9) == 10  # no power of two gives 9 positions: the divisor
    with pytest.raises(ValueError, match='cannot tell the stride.*pad_size_divisor=32'):
        feature_stride(100, 33)
    with pytest.raises(ValueError, match='cannot come from an input'):
        feature_stride(10, 20)
    with pytest.raises(ValueError, match='img_shape entries >= 1'):
        valid_feature_size(0, 64, 2)


def test_valid_position_mask():
    assert valid_position_mask([(64, 96), (64, 96)], (64, 96), (2, 3)) is None
    # 1333 x 800 images padded to 1344 x 832 (a batch with a 800 x 1200 image): C5 is 26 x 42
    mask = valid_position_mask([(800, 1333), (600, 1000)], (832, 1344), (26, 42))
    assert mask.shape == (2, 26, 42) and mask.dtype == torch.bool
    assert mask[0].sum() == math.ceil(800 / 32) * math.ceil(1333 / 32) == 25 * 42
    assert mask[1].sum() == 19 * 32 and mask[1, :19, :32].all()
