# Copyright (c) mmgcp contributors. All rights reserved.
"""The pinned mmdet, mmseg and mmpretrain build their standard models from their own configs and
train a step on CPU."""
import pytest
import torch
from mmengine.hub import get_config
from mmengine.registry import DefaultScope


def _loss_backward(model, data):
    data = model.data_preprocessor(data, True)
    losses = model(**data, mode='loss')
    total = sum(v.sum() for k, v in losses.items() if 'loss' in k and isinstance(v, torch.Tensor))
    total = total + sum(sum(x.sum() for x in v) for k, v in losses.items()
                        if 'loss' in k and isinstance(v, (list, tuple)))
    total.backward()
    return total


def _assert_trained(model, total):
    assert torch.isfinite(total)
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
    assert grads, 'no parameter received a gradient'
    assert all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_mask_rcnn_r50_fpn_from_mmdet_config():
    from mmdet.registry import MODELS
    from mmdet.testing import demo_mm_inputs
    cfg = get_config('mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py')
    cfg.model.backbone.init_cfg = None  # no download
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    assert model.backbone.depth == 50
    model.train()
    torch.manual_seed(0)
    data = demo_mm_inputs(batch_size=2, image_shapes=[(3, 160, 192), (3, 160, 192)],
                          num_items=[3, 2], num_classes=80, with_mask=True)
    total = _loss_backward(model, data)
    _assert_trained(model, total)


def test_upernet_r50_from_mmseg_config():
    from mmengine.structures import PixelData
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample
    cfg = get_config('mmseg::upernet/upernet_r50_4xb4-160k_ade20k-512x512.py')
    # SyncBN needs a process group; plain BN is the single-process equivalent.
    bn = dict(type='BN', requires_grad=True)
    for part in (cfg.model.backbone, cfg.model.decode_head, cfg.model.auxiliary_head):
        part.norm_cfg = bn
    cfg.model.pretrained = None
    cfg.model.data_preprocessor.size = (96, 96)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg.model)
    model.train()
    torch.manual_seed(0)
    inputs, samples = [], []
    for _ in range(2):
        inputs.append(torch.randint(0, 255, (3, 96, 96), dtype=torch.uint8))
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 150, (1, 96, 96)))
        sample.set_metainfo(dict(img_shape=(96, 96), ori_shape=(96, 96), pad_shape=(96, 96)))
        samples.append(sample)
    total = _loss_backward(model, dict(inputs=inputs, data_samples=samples))
    _assert_trained(model, total)


@pytest.mark.parametrize('depth', [50])
def test_resnet_classifier_from_mmpretrain_config(depth):
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample
    cfg = get_config(f'mmpretrain::resnet/resnet{depth}_8xb32_in1k.py')
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    num_params = sum(p.numel() for p in model.parameters())
    assert num_params == 25_557_032  # torchvision's ResNet-50
    model.train()
    torch.manual_seed(0)
    inputs = [torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8) for _ in range(2)]
    samples = [DataSample().set_gt_label(i) for i in (3, 7)]
    total = _loss_backward(model, dict(inputs=inputs, data_samples=samples))
    _assert_trained(model, total)
