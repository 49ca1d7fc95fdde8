# Copyright (c) mmgcp contributors. All rights reserved.
import hashlib
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mmgcp.datasets.toy import make_toy_ade20k

NUM_TRAIN, NUM_VAL, NUM_CLASSES = 16, 6, 4


def tree_digest(root):
    """Relative path -> sha256 of every file under ``root``."""
    digests = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = osp.join(folder, name)
            with open(path, 'rb') as f:
                digests[osp.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return digests


@pytest.fixture(scope='module')
def toy_ade(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp('toy') / 'ade20k'
    return make_toy_ade20k(str(out_dir), num_train=NUM_TRAIN, num_val=NUM_VAL)


def test_layout_and_label_values(toy_ade):
    assert toy_ade['classes'] == ('rgb-pos', 'b-anti', 'g-anti', 'r-anti')
    assert len(toy_ade['palette']) == NUM_CLASSES
    assert all(len(colour) == 3 for colour in toy_ade['palette'])
    seen = set()
    for split, folder, prefix, count in (('train', 'training', 'ADE_train', NUM_TRAIN),
                                         ('val', 'validation', 'ADE_val', NUM_VAL)):
        assert toy_ade[f'{split}_img_dir'] == osp.join(toy_ade['root'], 'images', folder)
        assert toy_ade[f'{split}_ann_dir'] == osp.join(toy_ade['root'], 'annotations', folder)
        images = sorted(os.listdir(toy_ade[f'{split}_img_dir']))
        labels = sorted(os.listdir(toy_ade[f'{split}_ann_dir']))
        assert images == [f'{prefix}_{i:08d}.jpg' for i in range(1, count + 1)]
        assert labels == [name.replace('.jpg', '.png') for name in images]
        for image_name, label_name in zip(images, labels):
            image = Image.open(osp.join(toy_ade[f'{split}_img_dir'], image_name))
            label = Image.open(osp.join(toy_ade[f'{split}_ann_dir'], label_name))
            assert image.mode == 'RGB' and label.mode == 'L'
            assert image.size == label.size == (128, 128)
            values = set(np.unique(np.asarray(label)).tolist())
            assert values <= set(range(NUM_CLASSES + 1))
            assert values - {0}, 'every image shows at least one class'
            seen |= values
    # Every class and the ignored "other" label occur.
    assert seen == set(range(NUM_CLASSES + 1))


def test_same_seed_same_bytes(tmp_path):
    kwargs = dict(num_train=3, num_val=2, img_size=64)
    first = tree_digest(make_toy_ade20k(str(tmp_path / 'a'), seed=3, **kwargs)['root'])
    second = tree_digest(make_toy_ade20k(str(tmp_path / 'b'), seed=3, **kwargs)['root'])
    other = tree_digest(make_toy_ade20k(str(tmp_path / 'c'), seed=4, **kwargs)['root'])
    assert first == second
    assert first.keys() == other.keys()
    assert all(first[path] != other[path] for path in first if path.endswith('.jpg'))


def test_region_class_is_the_sign_pattern_of_the_rgb_correlations(toy_ade):
    expected_signs = {1: (1, 1, 1), 2: (1, -1, -1), 3: (-1, 1, -1), 4: (-1, -1, 1)}
    hits = []
    for name in sorted(os.listdir(toy_ade['train_img_dir'])):
        image = np.asarray(Image.open(osp.join(toy_ade['train_img_dir'], name)), np.float64)
        label = np.asarray(Image.open(osp.join(toy_ade['train_ann_dir'],
                                               name.replace('.jpg', '.png'))))
        for value in set(np.unique(label).tolist()) - {0}:
            inside = image[label == value]
            if len(inside) < 200:  # a sliver of a region next to a border
                continue
            corr = np.corrcoef(inside.T)[np.triu_indices(3, 1)]
            hits.append(tuple(np.sign(corr).astype(int)) == expected_signs[value])
    assert len(hits) > 20 and np.mean(hits) > 0.85


def test_num_classes_and_invalid_arguments(tmp_path):
    info = make_toy_ade20k(str(tmp_path / 'two'), num_train=8, num_val=1, num_classes=2, seed=1)
    assert len(info['classes']) == len(info['palette']) == 2
    values = set()
    for name in os.listdir(info['train_ann_dir']):
        values |= set(np.unique(np.asarray(Image.open(osp.join(info['train_ann_dir'], name)))))
    assert values <= set(range(3))
    with pytest.raises(ValueError, match='num_classes'):
        make_toy_ade20k(str(tmp_path / 'a'), num_classes=0)
    with pytest.raises(ValueError, match='num_classes'):
        make_toy_ade20k(str(tmp_path / 'c'), num_classes=5)
    with pytest.raises(ValueError, match='seed'):
        make_toy_ade20k(str(tmp_path / 'b'), seed=-1)


def test_loads_in_mmseg_and_evaluates_with_iou_metric(toy_ade):
    import mmseg.datasets as mmseg_datasets
    import torch
    from mmseg.datasets.transforms import LoadAnnotations
    from mmseg.evaluation import IoUMetric

    data_prefix = dict(img_path='images/validation', seg_map_path='annotations/validation')
    # ADE20KDataset finds the files ...
    ade20k = mmseg_datasets.ADE20KDataset(data_root=toy_ade['root'], data_prefix=data_prefix)
    assert len(ade20k) == NUM_VAL
    # ... but only accepts class names among ADE20K's 150, so the toy classes go through
    # BaseSegDataset with ADE20K's settings.
    metainfo = dict(classes=toy_ade['classes'], palette=toy_ade['palette'])
    with pytest.raises(ValueError, match='not a subset'):
        mmseg_datasets.ADE20KDataset(
            data_root=toy_ade['root'], data_prefix=data_prefix, metainfo=metainfo)
    dataset = mmseg_datasets.BaseSegDataset(
        data_root=toy_ade['root'],
        data_prefix=data_prefix,
        img_suffix='.jpg',
        seg_map_suffix='.png',
        reduce_zero_label=True,
        metainfo=metainfo)
    assert len(dataset) == NUM_VAL
    assert dataset.metainfo['classes'] == toy_ade['classes']
    assert [tuple(c) for c in dataset.metainfo['palette']] == list(toy_ade['palette'])

    load_annotations = LoadAnnotations()
    data_samples = []
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        assert osp.isfile(info['img_path'])
        raw = np.asarray(Image.open(info['seg_map_path']))
        gt = load_annotations(info)['gt_seg_map']
        # reduce_zero_label: "other" (0) -> 255 (ignored), class k + 1 -> k.
        assert (gt[raw == 0] == 255).all()
        assert (gt[raw > 0] == raw[raw > 0] - 1).all()
        gt = torch.from_numpy(gt.astype(np.int64))[None]
        data_samples.append(dict(pred_sem_seg=dict(data=gt), gt_sem_seg=dict(data=gt)))

    # The ground truth itself as a perfect prediction.
    metric = IoUMetric(iou_metrics=['mIoU'])
    metric.dataset_meta = dataset.metainfo
    metric.process({}, data_samples)
    results = metric.evaluate(size=len(data_samples))
    assert results['mIoU'] == pytest.approx(100.0)
    assert results['aAcc'] == pytest.approx(100.0)
