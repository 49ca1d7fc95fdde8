# Copyright (c) mmgcp contributors. All rights reserved.
import pytest
import torch
from mmseg.models.decode_heads import UPerHead

from mmgcp.models import CovUPerHead, GCPNeck
from mmgcp.models.utils import BatchPadding, current_padding, current_valid_mask, padding_scope

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


def test_an_image_alone_and_in_a_padded_batch_get_the_same_context(reference):
    head = _head(reduced_channels=5).double().eval()
    torch.manual_seed(0)
    # C5 at stride 32: image A (100 x 70) alone is 4 x 3; in a 160 x 128 batch next to a
    # 160 x 128 image, 5 x 4 with large noise on A's padding
    batch = 50 * torch.randn(2, 64, 5, 4, dtype=torch.float64)
    batch[0, :, :4, :3] = torch.randn(64, 4, 3, dtype=torch.float64).exp()
    alone = batch[:1, :, :4, :3].clone().requires_grad_(True)
    batch.requires_grad_(True)
    with padding_scope(BatchPadding(((100, 70), ), (128, 96))):
        context_alone = head.cov_context(alone, current_valid_mask(alone))
    with padding_scope(BatchPadding(((100, 70), (160, 128)), (160, 128))):
        context_batch = head.cov_context(batch, current_valid_mask(batch))
    context_alone.square().sum().backward()
    context_batch[:1, :, :4, :3].square().sum().backward()
    torch.testing.assert_close(context_batch[0, :, :4, :3], context_alone[0], rtol=0,
                               atol=1e-10)
    torch.testing.assert_close(batch.grad[0, :, :4, :3], alone.grad[0], rtol=0, atol=1e-10)
    assert not batch.grad[0, :, 4:].any() and not batch.grad[0, :, :, 3:].any()
    # A's context is the published pooling of its own positions, written from the math
    with torch.no_grad():
        reduced = head.reduction(alone)
        sigma = reference.isqrt(reference.covariance(reduced))
        expected = head.cov_proj(torch.bmm(sigma, reduced.flatten(2)).view_as(reduced))
    torch.testing.assert_close(context_alone, expected, rtol=0, atol=1e-10)


def _record_padding(head):
    seen = []
    head.cov_proj.register_forward_hook(lambda *args: seen.append(current_padding()))
    return seen


def _seg_sample(img_shape, pad_shape=None):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    sample = SegDataSample()
    sample.gt_sem_seg = PixelData(data=torch.randint(0, 5, (1, 128, 128)))
    sample.set_metainfo(dict(img_shape=img_shape, pad_shape=pad_shape))
    return sample


def test_loss_and_predict_take_the_padding_from_the_metainfo(feats):
    head = _head()
    seen = _record_padding(head)
    # training: mmseg's stack_batch leaves img_shape (a torch.Size) and pad_shape
    samples = [_seg_sample(torch.Size((100, 128)), (128, 128)),
               _seg_sample(torch.Size((128, 77)), (128, 128))]
    losses = head.loss(feats, samples, train_cfg=dict())
    assert torch.isfinite(losses['loss_ce'])
    assert seen.pop() == BatchPadding(((100, 128), (128, 77)), (128, 128))
    # whole-image test with the preprocessor's padding: img_shape from the pipeline
    metas = [dict(img_shape=(100, 120), pad_shape=(128, 128))] * 2
    assert head.predict(feats, metas, test_cfg=dict()).shape == (2, 5, 128, 128)
    assert seen.pop() == BatchPadding(((100, 120), (100, 120)), (128, 128))
    # unpadded, and sliding-window crops (mmseg marks them by a torch.Size img_shape): no mask
    head.predict(feats, [dict(img_shape=(128, 128))] * 2, test_cfg=dict())
    head.predict(feats, [dict(img_shape=torch.Size((128, 128)), pad_shape=(160, 192))] * 2,
                 test_cfg=dict())
    assert seen == [None, None] and current_padding() is None
