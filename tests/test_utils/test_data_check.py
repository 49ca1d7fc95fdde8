# Copyright (c) mmgcp contributors. All rights reserved.
"""mmgcp.utils.data_check: one clear error for missing data, before a Runner is built."""
import os

import pytest
from mmengine.config import Config

from mmgcp.utils import DataNotFoundError, check_data, missing_data


def _cls_cfg(root):
    return Config(dict(
        default_scope='mmpretrain',
        train_dataloader=dict(dataset=dict(type='CustomDataset', data_root=root,
                                           data_prefix='train')),
        val_dataloader=dict(dataset=dict(type='CustomDataset', data_root=root,
                                         data_prefix='val')),
        test_dataloader=None))


def test_missing_toy_root_names_key_path_and_generator(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no data/toy here, whatever the checkout holds
    with pytest.raises(DataNotFoundError) as info:
        check_data(_cls_cfg('data/toy/cls'), config='configs/toy/x.py')
    message = str(info.value)
    print(message)
    assert "train_dataloader.dataset.data_root = 'data/toy/cls' does not exist" in message
    assert "val_dataloader.dataset.data_root = 'data/toy/cls' does not exist" in message
    assert ('python tools/dataset_converters/make_toy_data.py cls --out-dir data/toy'
            in message)
    assert '--cfg-options train_dataloader.dataset.data_root=/path/to/data' in message
    assert 'configs/toy/x.py' in message


def test_missing_imagenet_names_the_standard_layout():
    with pytest.raises(DataNotFoundError, match='ImageNet layout: <data_root>/train/<class>'):
        check_data(_cls_cfg('/nonexist'))


def test_coco_files_under_an_existing_root(tmp_path):
    root = str(tmp_path / 'coco')
    os.makedirs(os.path.join(root, 'train2017'))
    cfg = Config(dict(
        default_scope='mmdet',
        train_dataloader=dict(dataset=dict(
            type='RepeatDataset', times=2,
            dataset=dict(type='CocoDataset', data_root=root,
                         ann_file='annotations/instances_train2017.json',
                         data_prefix=dict(img='train2017/')))),
        val_dataloader=None,
        test_dataloader=dict(dataset=dict(type='CocoDataset', data_root=root,
                                          ann_file='annotations/instances_val2017.json',
                                          data_prefix=dict(img='val2017/'))),
        test_evaluator=dict(type='CocoMetric', ann_file=f'{root}/annotations/val.json')))
    missing = missing_data(cfg)
    assert [m[0] for m in missing] == [
        'train_dataloader.dataset.dataset.ann_file', 'test_dataloader.dataset.ann_file',
        'test_dataloader.dataset.data_prefix.img', 'test_evaluator.ann_file']
    assert missing[0][1] == os.path.join(root, 'annotations/instances_train2017.json')
    with pytest.raises(DataNotFoundError, match='COCO layout: <data_root>/annotations'):
        check_data(cfg)
    check_data(cfg, splits=('val', ))  # nothing to check there


def test_present_data_and_remote_paths_pass(tmp_path):
    for split in ('train', 'val'):
        os.makedirs(tmp_path / 'cls' / split)
    check_data(_cls_cfg(str(tmp_path / 'cls')))
    check_data(_cls_cfg('s3://bucket/imagenet'))


def test_toy_config_with_another_root_still_gets_the_generator():
    with pytest.raises(DataNotFoundError) as info:
        check_data(_cls_cfg('/nonexist'), splits=('train', ), config='configs/toy/gcp_toy.py')
    message = str(info.value)
    assert "train_dataloader.dataset.data_root = '/nonexist' does not exist" in message
    assert ('python tools/dataset_converters/make_toy_data.py cls --out-dir data/toy (it writes '
            'data/toy/cls; point the config there)') in message
