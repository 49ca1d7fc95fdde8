# Copyright (c) mmgcp contributors. All rights reserved.
"""Toy data and a toy-pretrained GCP trunk for the end-to-end transfer tests, made once per
session: the toy GCP classifier is trained for one epoch through tools/train.py, so the detection
and segmentation configs fine-tune from a real mmpretrain checkpoint."""
import os.path as osp

import pytest

#: Toy-pretrained classifier every toy transfer test starts from.
CLS_CONFIG = 'configs/toy/resnet18-w16-gcp_1xb32_toy.py'


@pytest.fixture(scope='session')
def toy_data(tmp_path_factory):
    """Small toy COCO and ADE20K sets, with the paths the configs need."""
    from mmgcp.datasets.toy import make_toy_ade20k, make_toy_coco
    root = tmp_path_factory.mktemp('toy_transfer_data')
    coco = make_toy_coco(str(root / 'coco'), num_train=48, num_val=12, img_size=128, seed=0)
    ade20k = make_toy_ade20k(str(root / 'ade20k'), num_train=48, num_val=12, img_size=128,
                             seed=0)
    return dict(coco=coco, ade20k=ade20k)


@pytest.fixture(scope='session')
def toy_gcp_checkpoint(tmp_path_factory, tool_runner):
    """An mmpretrain checkpoint of the toy GCP classifier (backbone.*, neck.reduction.*)."""
    from mmgcp.datasets.toy import make_toy_classification
    root = tmp_path_factory.mktemp('toy_transfer_cls')
    data = str(root / 'cls')
    make_toy_classification(data, num_classes=4, num_train_per_class=12, num_val_per_class=4,
                            img_size=48, seed=0)
    work = str(root / 'work')
    tool_runner([
        'tools/train.py', CLS_CONFIG, '--work-dir', work, '--no-validate', '--cfg-options',
        f'train_dataloader.dataset.data_root={data}', f'val_dataloader.dataset.data_root={data}',
        f'test_dataloader.dataset.data_root={data}', 'train_cfg.max_epochs=1',
        'train_dataloader.batch_size=16', 'train_dataloader.num_workers=0'
    ], env={'OMP_NUM_THREADS': '1'})
    checkpoint = osp.join(work, 'epoch_1.pth')
    assert osp.isfile(checkpoint)
    return checkpoint
