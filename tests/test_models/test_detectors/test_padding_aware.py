# Copyright (c) mmgcp contributors. All rights reserved.
"""mmgcp.PaddingAwareMaskRCNN: the covariance neck sees each image's own positions, in training,
in test_step (tools/test.py, the inferencers) and in mmdet's inference API."""
import glob
import os.path as osp

import mmdet  # noqa: F401  a dependency of mmgcp
import numpy as np
import torch
from mmdet.structures import DetDataSample  # noqa: E402
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmgcp.models import CovAttentionNeck, PaddingAwareMaskRCNN  # noqa: E402
from mmgcp.models.utils import BatchPadding, current_padding  # noqa: E402

TOY_CFG = 'configs/toy/det/mask-rcnn_r18-w16-gap_cov-fpn_1xb4_toy.py'


def _build(repo_root, **backbone):
    from mmdet.registry import MODELS
    cfg = Config.fromfile(osp.join(repo_root, TOY_CFG))
    cfg.model.backbone.update(backbone)
    cfg.model.backbone.init_cfg = None  # random trunk: no checkpoint needed
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    # the MLPs' last layers start at zero (identity neck): make the descriptor visible
    for mlp in model.neck[0].level_mlps:
        torch.nn.init.normal_(mlp[-1].weight, std=0.5)
    return model


def _data(sizes, seed=0):
    generator = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for height, width in sizes:
        inputs.append(torch.randint(0, 256, (3, height, width), generator=generator,
                                    dtype=torch.uint8))
        sample = DetDataSample()
        sample.set_metainfo(dict(img_shape=(height, width), ori_shape=(height, width),
                                 scale_factor=(1.0, 1.0)))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


class NeckRecorder:
    """Records the padding the neck saw, its C5 input and its first level's output - input."""

    def __init__(self, neck):
        self.calls = []
        neck.register_forward_hook(self._record)

    def _record(self, neck, args, outputs):
        (inputs, ) = args
        self.calls.append(dict(padding=current_padding(), c5=inputs[-1].detach(),
                               added=(outputs[0] - inputs[0]).detach()))


def _expected_added(neck, c5, valid_h, valid_w):
    """What the neck adds to level 0 for one image: mlp(z) with z from its valid C5 positions
    alone (the unmasked path on the cropped map)."""
    with torch.no_grad():
        z = neck.descriptor(c5[None, :, :valid_h, :valid_w])
        return neck.level_mlps[0](z)[0]


def test_every_cov_fpn_config_uses_a_padding_aware_detector(repo_root):
    configs = glob.glob(osp.join(repo_root, 'configs', '**', '*cov-fpn*.py'), recursive=True)
    assert len(configs) >= 7
    for path in configs:
        cfg = Config.fromfile(path)
        assert cfg.model.neck[0].type == 'mmgcp.CovAttentionNeck', path
        assert cfg.model.type in ('mmgcp.PaddingAwareMaskRCNN',
                                  'mmgcp.PaddingAwareFasterRCNN'), path


def test_state_dict_keys_are_mmdets(repo_root):
    from mmdet.models.detectors import MaskRCNN
    model = _build(repo_root)
    assert isinstance(model, PaddingAwareMaskRCNN) and isinstance(model, MaskRCNN)
    assert isinstance(model.neck[0], CovAttentionNeck)
    keys = set(model.state_dict())
    assert 'neck.0.reduction.conv.weight' in keys and 'backbone.conv1.weight' in keys
    assert not any(key.startswith(('detector.', 'module.')) for key in keys)


def test_test_step_masks_each_image_of_a_batch(repo_root):
    model = _build(repo_root).eval()
    recorder = NeckRecorder(model.neck[0])
    # padded to 128 x 128 by mmdet's preprocessor; C5 (stride 32) is 4 x 4
    sizes = [(100, 70), (60, 120)]
    with torch.no_grad():
        results = model.test_step(_data(sizes))
    assert len(results) == 2 and current_padding() is None  # the scope closed
    (call, ) = recorder.calls
    assert call['padding'] == BatchPadding(((100, 70), (60, 120)), (128, 128))
    assert call['c5'].shape[-2:] == (4, 4)
    # ceil(100 / 32) x ceil(70 / 32) = 4 x 3 and ceil(60 / 32) x ceil(120 / 32) = 2 x 4
    for index, (valid_h, valid_w) in enumerate([(4, 3), (2, 4)]):
        expected = _expected_added(model.neck[0], call['c5'][index], valid_h, valid_w)
        torch.testing.assert_close(call['added'][index, :, 0, 0], expected)
    # and the mask mattered: over the whole 4 x 4 map the second image's descriptor differs
    everything = _expected_added(model.neck[0], call['c5'][1], 4, 4)
    assert not torch.allclose(call['added'][1, :, 0, 0], everything, atol=1e-4)


def test_inference_api_masks_a_single_image_padded_to_32(repo_root):
    from mmdet.apis import inference_detector
    # layer4 at stride 1, as the GCP trunk was trained: C5 at stride 16, where a single image
    # padded to a multiple of 32 can have padded feature columns. The toy pipeline resizes
    # 100 x 60 to 128 x 77, padded to 128 x 96: 6 columns at stride 16, ceil(77 / 16) = 5 valid.
    model = _build(repo_root, strides=(1, 2, 2, 1)).eval()
    model.cfg = Config.fromfile(osp.join(repo_root, TOY_CFG))
    recorder = NeckRecorder(model.neck[0])
    image = np.random.default_rng(0).integers(0, 256, (100, 60, 3), dtype=np.uint8)
    with DefaultScope.overwrite_default_scope('mmdet'):
        inference_detector(model, image)
    (call, ) = recorder.calls
    assert call['padding'] == BatchPadding(((128, 77), ), (128, 96))
    assert call['c5'].shape[-2:] == (8, 6)
    expected = _expected_added(model.neck[0], call['c5'][0], 8, 5)
    torch.testing.assert_close(call['added'][0, :, 0, 0], expected)


def test_training_forward_masks_too(repo_root):
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    model = _build(repo_root).train()
    recorder = NeckRecorder(model.neck[0])
    data = _data([(96, 64), (50, 90)])
    for sample in data['data_samples']:
        height, width = sample.img_shape
        masks = np.zeros((1, height, width), dtype=np.uint8)
        masks[0, 5:40, 5:40] = 1
        sample.gt_instances = InstanceData(bboxes=torch.tensor([[5.0, 5.0, 40.0, 40.0]]),
                                           labels=torch.tensor([1]),
                                           masks=BitmapMasks(masks, height, width))
    losses = model(**model.data_preprocessor(data, training=True), mode='loss')
    assert all(torch.isfinite(value).all() for key, value in losses.items()
               if key.startswith('loss') and isinstance(value, torch.Tensor))
    assert current_padding() is None
    (call, ) = recorder.calls
    assert call['padding'] == BatchPadding(((96, 64), (50, 90)), (96, 96))


def test_outside_the_forward_there_is_no_mask(repo_root):
    model = _build(repo_root).eval()
    recorder = NeckRecorder(model.neck[0])
    with torch.no_grad():
        model.extract_feat(torch.randn(2, 3, 64, 96))
    assert recorder.calls[0]['padding'] is None
