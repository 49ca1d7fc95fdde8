# Copyright (c) mmgcp contributors. All rights reserved.
import pytest
import torch
from mmseg.models.decode_heads import UPerHead

from mmgcp.models import CovUPerHead, GCPNeck

IN_CHANNELS = [8, 16, 32, 64]


def _head(**kwargs):
    cfg = dict(
        in_channels=IN_CHANNELS,
        in_index=[0, 1, 2, 3],
        channels=16,
        num_classes=5,
        norm_cfg=dict(type='BN', requires_grad=True),
        reduced_channels=12)
    cfg.update(kwargs)
    return CovUPerHead(**cfg)


@pytest.fixture
def feats():
    torch.manual_seed(0)
    return [torch.randn(2, c, s, s) for c, s in zip(IN_CHANNELS, (32, 16, 8, 4))]


@pytest.mark.parametrize('post_norm', ['isqrt', 'power', 'none'])
def test_forward_backward(feats, post_norm):
    head = _head(post_norm=post_norm)
    assert isinstance(head, UPerHead)
    head.init_weights()
    head.train()
    inputs = [x.clone().requires_grad_(True) for x in feats]
    logits = head(inputs)
    assert logits.shape == (2, 5, 32, 32)
    logits.square().mean().backward()
    assert all(torch.isfinite(x.grad).all() for x in inputs)
    assert inputs[-1].grad.abs().sum() > 0
    assert head.reduction.conv.weight.grad.abs().sum() > 0
    assert head.cov_proj.conv.weight.grad.abs().sum() > 0


def test_bottleneck_takes_the_covariance_branch(feats, reference):
    head = _head(pool_scales=(1, 2))
    # C5, two PPM branches and the covariance branch.
    assert head.bottleneck.conv.in_channels == 64 + 3 * 16
    head.eval()
    with torch.no_grad():
        reduced = head.reduction(feats[-1])
        sigma = reference.isqrt(reference.covariance(reduced)).float()
        expected = head.cov_proj(torch.bmm(sigma, reduced.flatten(2)).view_as(reduced))
        torch.testing.assert_close(head.cov_context(feats[-1]), expected)


def test_reduction_loads_from_a_gcp_classifier_checkpoint(tmp_path):
    gcp = GCPNeck(in_channels=64, reduced_channels=12)
    with torch.no_grad():
        for p in gcp.parameters():
            p.normal_()
    ckpt = str(tmp_path / 'gcp_cls.pth')
    torch.save({'state_dict': {f'neck.{k}': v for k, v in gcp.state_dict().items()}}, ckpt)
    head = _head(
        reduction_init_cfg=dict(
            type='mmgcp.PretrainedChecked', checkpoint=ckpt, prefix='neck.reduction.',
            strict=True))
    head.init_weights()
    for key, value in gcp.reduction.state_dict().items():
        torch.testing.assert_close(head.reduction.state_dict()[key], value)


def test_loss_through_mmseg_api(feats):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    head = _head()
    samples = []
    for _ in range(2):
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 5, (1, 128, 128)))
        sample.set_metainfo(dict(img_shape=(128, 128), pad_shape=(128, 128)))
        samples.append(sample)
    losses = head.loss(feats, samples, train_cfg=dict())
    assert torch.isfinite(losses['loss_ce']) and losses['loss_ce'] > 0


def test_bad_post_norm_is_named():
    with pytest.raises(ValueError, match='post_norm'):
        _head(post_norm='dropcov')
