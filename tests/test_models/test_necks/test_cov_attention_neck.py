# Copyright (c) mmgcp contributors. All rights reserved.
import pytest
import torch

from mmgcp.models import CovAttentionNeck, GCPNeck

IN_CHANNELS = [8, 16, 32]


@pytest.fixture
def feats():
    torch.manual_seed(0)
    return tuple(
        torch.randn(2, c, s, s) for c, s in zip(IN_CHANNELS, (16, 8, 4)))


def _perturb_last_layers(neck):
    torch.manual_seed(1)
    for mlp in neck.level_mlps:
        torch.nn.init.normal_(mlp[-1].weight, std=0.5)


@pytest.mark.parametrize('fusion', ['add', 'scale'])
def test_starts_as_identity_then_changes_every_level(feats, fusion):
    neck = CovAttentionNeck(IN_CHANNELS, reduced_channels=6, hidden_channels=32, fusion=fusion)
    neck.train()
    outs = neck(feats)
    assert len(outs) == len(feats)
    for out, x in zip(outs, feats):
        torch.testing.assert_close(out, x)
    _perturb_last_layers(neck)
    for out, x in zip(neck(feats), feats):
        assert out.shape == x.shape
        assert not torch.allclose(out, x)


@pytest.mark.parametrize('post_norm', ['isqrt', 'power', 'none'])
def test_backward_reaches_reduction_inputs_and_mlps(feats, post_norm):
    neck = CovAttentionNeck(IN_CHANNELS, reduced_channels=6, hidden_channels=32,
                            post_norm=post_norm)
    _perturb_last_layers(neck)
    inputs = [x.clone().requires_grad_(True) for x in feats]
    sum(out.square().mean() for out in neck(inputs)).backward()
    assert all(torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0 for x in inputs)
    assert neck.reduction.conv.weight.grad.abs().sum() > 0
    assert all(mlp[0].weight.grad.abs().sum() > 0 for mlp in neck.level_mlps)


def test_descriptor_is_row_mean_of_isqrt_covariance(feats, reference):
    neck = CovAttentionNeck(IN_CHANNELS, reduced_channels=6, num_iters=5).eval()
    with torch.no_grad():
        sigma = reference.covariance(neck.reduction(feats[-1]))
        expected = reference.isqrt(sigma, num_iters=5).mean(dim=2)
        torch.testing.assert_close(neck.descriptor(feats[-1]).double(), expected, rtol=1e-4,
                                   atol=1e-5)


def test_cov_index_picks_the_level(feats):
    neck = CovAttentionNeck(IN_CHANNELS, reduced_channels=6, cov_index=1)
    assert neck.reduction.conv.in_channels == 16
    assert [o.shape for o in neck(feats)] == [x.shape for x in feats]


def test_reduction_loads_from_a_gcp_classifier_checkpoint(tmp_path, feats):
    gcp = GCPNeck(in_channels=32, reduced_channels=6)
    with torch.no_grad():
        for p in gcp.parameters():
            p.normal_()
        gcp.reduction.bn.running_mean.normal_()
    state = {f'neck.{k}': v for k, v in gcp.state_dict().items()}
    state['backbone.conv1.weight'] = torch.zeros(1)
    ckpt = str(tmp_path / 'gcp_cls.pth')
    torch.save({'state_dict': state, 'meta': {}}, ckpt)

    neck = CovAttentionNeck(
        IN_CHANNELS,
        reduced_channels=6,
        reduction_init_cfg=dict(
            type='mmgcp.PretrainedChecked', checkpoint=ckpt, prefix='neck.reduction.',
            strict=True))
    mlp_before = neck.level_mlps[0][0].weight.clone()
    neck.init_weights()
    for key, value in gcp.reduction.state_dict().items():
        torch.testing.assert_close(neck.reduction.state_dict()[key], value)
    torch.testing.assert_close(neck.level_mlps[0][0].weight, mlp_before)


def test_reduction_of_another_width_fails_loudly(tmp_path):
    gcp = GCPNeck(in_channels=32, reduced_channels=8)
    ckpt = str(tmp_path / 'gcp_cls.pth')
    torch.save({'state_dict': {f'neck.{k}': v for k, v in gcp.state_dict().items()}}, ckpt)
    neck = CovAttentionNeck(
        IN_CHANNELS,
        reduced_channels=6,
        reduction_init_cfg=dict(
            type='mmgcp.PretrainedChecked', checkpoint=ckpt, prefix='neck.reduction.',
            strict=True))
    with pytest.raises(RuntimeError, match='size mismatch'):
        neck.init_weights()


def test_missing_reduction_checkpoint_says_how_to_get_one(tmp_path):
    neck = CovAttentionNeck(
        IN_CHANNELS,
        reduced_channels=6,
        reduction_init_cfg=dict(
            type='mmgcp.PretrainedChecked', checkpoint=str(tmp_path / 'missing.pth'),
            prefix='neck.reduction.',
            pretrain_config='configs/pretrain/resnet50-gcp_8xb32_in1k.py'))
    with pytest.raises(FileNotFoundError) as info:
        neck.init_weights()
    message = str(info.value)
    assert 'missing.pth' in message and "'neck.reduction.*'" in message
    assert 'python tools/train.py configs/pretrain/resnet50-gcp_8xb32_in1k.py' in message
    assert 'tools/model_converters/gcp2mmpretrain.py' in message
    assert '--cfg-options model.neck.<i>.reduction_init_cfg.checkpoint=PATH' in message


def test_norm_eval_freezes_reduction_statistics(feats):
    neck = CovAttentionNeck(IN_CHANNELS, reduced_channels=6, norm_eval=True)
    neck.train()
    assert neck.training and not neck.reduction.bn.training
    before = neck.reduction.bn.running_mean.clone()
    neck(feats)
    torch.testing.assert_close(neck.reduction.bn.running_mean, before)


@pytest.mark.parametrize(
    'kwargs, match',
    [(dict(fusion='mul'), 'fusion'), (dict(post_norm='dropcov'), 'post_norm'),
     (dict(cov_index=3), 'cov_index')])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CovAttentionNeck(IN_CHANNELS, **kwargs)


def test_wrong_number_of_levels_is_explained(feats):
    neck = CovAttentionNeck(IN_CHANNELS, reduced_channels=6)
    with pytest.raises(ValueError, match='expects 3 feature maps'):
        neck(feats[:2])


def test_precedes_mmdet_fpn_in_a_list_of_necks(feats):
    from mmdet.registry import MODELS
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet'):
        necks = MODELS.build([
            dict(type='mmgcp.CovAttentionNeck', in_channels=IN_CHANNELS, reduced_channels=6),
            dict(type='FPN', in_channels=IN_CHANNELS, out_channels=8, num_outs=4),
        ])
    assert isinstance(necks[0], CovAttentionNeck)
    necks.init_weights()
    outs = necks(feats)
    assert [o.shape[1] for o in outs] == [8] * 4
    assert [o.shape[-1] for o in outs] == [16, 8, 4, 2]


@pytest.mark.parametrize('post_norm', ['isqrt', 'power', 'none'])
def test_an_image_alone_and_in_a_padded_batch_get_the_same_output(post_norm, reference):
    from mmgcp.models.utils import BatchPadding, padding_scope
    torch.manual_seed(0)
    neck = CovAttentionNeck([8, 4], reduced_channels=3, hidden_channels=8,
                            post_norm=post_norm).double().eval()
    _perturb_last_layers(neck)
    # image A (150 x 100) alone is padded to 160 x 128; in a batch with a 192 x 130 image, to
    # 192 x 160. Levels at strides 16 and 32; the padding holds large noise.
    batch = [50 * torch.randn(2, 8, 12, 10, dtype=torch.float64),
             50 * torch.randn(2, 4, 6, 5, dtype=torch.float64)]
    alone_shapes = [(10, 8), (5, 4)]
    valid = [(10, 7), (5, 4)]  # ceil(150 / s) x ceil(100 / s)
    for level, (height, width) in zip(batch, valid):
        level[0, :, :height, :width] = torch.randn(level.shape[1], height, width,
                                                   dtype=torch.float64).exp()
    alone = [level[:1, :, :h, :w].clone().requires_grad_(True)
             for level, (h, w) in zip(batch, alone_shapes)]
    batch = [level.requires_grad_(True) for level in batch]

    with padding_scope(BatchPadding(((150, 100), ), (160, 128))):
        out_alone = neck(alone)
    with padding_scope(BatchPadding(((150, 100), (192, 130)), (192, 160))):
        out_batch = neck(batch)
    sum(out.square().sum() for out in out_alone).backward()
    sum(out[:1, :, :h, :w].square().sum()
        for out, (h, w) in zip(out_batch, alone_shapes)).backward()

    # the reference: the published pooling of A's valid C5 positions, written from the math
    with torch.no_grad():
        height, width = valid[1]
        sigma = reference.covariance(neck.reduction(batch[1][:1, :, :height, :width]))
        matrix = {'isqrt': reference.isqrt, 'power': reference.sqrtm,
                  'none': lambda s: s}[post_norm](sigma)
        added = neck.level_mlps[0](matrix.mean(dim=2))[0, :, None, None]
    torch.testing.assert_close(out_batch[0][0, :, :10, :8], batch[0][0, :, :10, :8] + added,
                               rtol=0, atol=1e-10)
    for out_a, out_b, level_a, level_b, (h, w) in zip(out_alone, out_batch, alone, batch,
                                                      alone_shapes):
        torch.testing.assert_close(out_b[0, :, :h, :w], out_a[0], rtol=0, atol=1e-10)
        torch.testing.assert_close(level_b.grad[0, :, :h, :w], level_a.grad[0], rtol=0,
                                   atol=1e-10)
    # no gradient reaches A's padded C5 positions (the only path from them is the covariance)
    grad_c5 = batch[1].grad[0]
    assert not grad_c5[:, 5:].any() and not grad_c5[:, :, 4:].any()
    assert grad_c5[:, :5, :4].abs().max() > 0
