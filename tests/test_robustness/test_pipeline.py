# Copyright (c) mmgcp contributors. All rights reserved.
import numpy as np
import pytest
from mmengine.registry import init_default_scope

from mmgcp.datasets import make_toy_classification
from mmgcp.robustness import corrupt_dataloader_cfg, corrupt_pipeline

PIPELINE = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]


def test_corrupt_is_inserted_after_loading():
    new = corrupt_pipeline(PIPELINE, 'fog', 2, seed=3)
    assert [step['type'] for step in new] == ['LoadImageFromFile', 'mmgcp.Corrupt', 'PackInputs']
    assert new[1] == dict(type='mmgcp.Corrupt', corruption='fog', severity=2, seed=3)
    assert len(PIPELINE) == 2  # the input is left alone
    scoped = corrupt_pipeline([dict(type='mmdet.LoadImageFromFile')], 'fog', 1)
    assert scoped[1]['type'] == 'mmgcp.Corrupt'
    with pytest.raises(ValueError, match='LoadImageFrom'):
        corrupt_pipeline([dict(type='PackInputs')], 'fog', 1)


def test_wrapped_datasets_are_followed():
    cfg = dict(dataset=dict(type='ConcatDataset', datasets=[
        dict(type='A', pipeline=PIPELINE), dict(type='RepeatDataset',
                                                dataset=dict(type='B', pipeline=PIPELINE))]))
    new = corrupt_dataloader_cfg(cfg, 'snow', 1)
    assert new['dataset']['datasets'][0]['pipeline'][1]['type'] == 'mmgcp.Corrupt'
    assert new['dataset']['datasets'][1]['dataset']['pipeline'][1]['type'] == 'mmgcp.Corrupt'
    with pytest.raises(ValueError, match='pipeline'):
        corrupt_dataloader_cfg(dict(dataset=dict(type='A')), 'snow', 1)


def test_corrupted_mmpretrain_dataset(tmp_path):
    """Through mmpretrain's registry: severity 0 gives the clean bytes, a seed the same bytes."""
    from mmpretrain.registry import DATASETS
    init_default_scope('mmpretrain')
    make_toy_classification(str(tmp_path), num_train_per_class=1, num_val_per_class=1,
                            img_size=48)
    loader = dict(dataset=dict(type='CustomDataset', data_root=str(tmp_path), data_prefix='val',
                               pipeline=[dict(type='LoadImageFromFile'),
                                         dict(type='PackInputs')]))

    def first_image(corruption=None, severity=0, seed=0):
        cfg = loader if corruption is None else corrupt_dataloader_cfg(loader, corruption,
                                                                       severity, seed)
        return DATASETS.build(cfg['dataset'])[0]['inputs'].numpy()

    clean = first_image()
    np.testing.assert_array_equal(first_image('shot_noise', 0), clean)
    noisy = first_image('shot_noise', 3)
    assert not np.array_equal(noisy, clean)
    np.testing.assert_array_equal(first_image('shot_noise', 3), noisy)
    assert not np.array_equal(first_image('shot_noise', 3, seed=1), noisy)
