# Copyright (c) mmgcp contributors. All rights reserved.
"""Tests of mmgcp/models/utils/batch_padding.py: the padding of a batch and its scope."""
import pytest
import torch

from mmgcp.models.utils import (
    BatchPadding,
    current_padding,
    current_valid_mask,
    padding_from_metas,
    padding_scope,
)


def test_mmdet_metainfo_uses_the_batch_input_shape():
    metas = [dict(img_shape=(800, 1199), pad_shape=(800, 1216), batch_input_shape=(800, 1344)),
             dict(img_shape=(750, 1333), pad_shape=(768, 1344), batch_input_shape=(800, 1344))]
    assert padding_from_metas(metas) == BatchPadding(((800, 1199), (750, 1333)), (800, 1344))
    # the detector passes the input's own size, which wins
    assert padding_from_metas(metas, (832, 1344)).input_shape == (832, 1344)


def test_mmseg_metainfo_uses_the_pad_shape():
    metas = [dict(img_shape=torch.Size((512, 384)), pad_shape=torch.Size((512, 512))),
             dict(img_shape=torch.Size((512, 512)), pad_shape=torch.Size((512, 512)))]
    assert padding_from_metas(metas) == BatchPadding(((512, 384), (512, 512)), (512, 512))


@pytest.mark.parametrize('metas', [
    [dict(img_shape=(512, 683))],  # a test image, not padded
    [dict(img_shape=(512, 512), pad_shape=None)],  # stack_batch without a label map
    [dict(ori_shape=(512, 512))],  # nothing known
    [],
])
def test_no_padding_no_mask(metas):
    assert padding_from_metas(metas) is None


def test_scope_lasts_the_block_and_nests():
    outer = BatchPadding(((10, 20), ), (32, 32))
    assert current_padding() is None
    with padding_scope(outer):
        assert current_padding() is outer
        with padding_scope(None):
            assert current_padding() is None
        assert current_padding() is outer
        with pytest.raises(RuntimeError):
            with padding_scope(BatchPadding(((5, 5), ), (8, 8))):
                raise RuntimeError('a failing forward')
        assert current_padding() is outer
    assert current_padding() is None


def test_valid_mask_of_a_feature_map():
    padding = BatchPadding(((100, 70), (128, 128)), (128, 128))
    features = torch.zeros(2, 3, 8, 8)  # stride 16
    assert current_valid_mask(features) is None  # no scope
    with padding_scope(padding):
        mask = current_valid_mask(features)
    assert mask.shape == (2, 8, 8)
    assert mask[0].sum() == 7 * 5 and mask[0, :7, :5].all() and mask[1].all()
    assert padding.valid_mask(torch.zeros(2, 3, 4, 4)).sum() == 4 * 3 + 16
    with pytest.raises(ValueError, match='describes 2 images, but the feature map holds 3'):
        padding.valid_mask(torch.zeros(3, 3, 8, 8))
