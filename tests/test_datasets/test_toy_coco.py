# Copyright (c) mmgcp contributors. All rights reserved.
import hashlib
import json
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mmgcp.datasets.toy import make_toy_coco
from mmgcp.datasets.toy.coco import polygon_area

NUM_TRAIN, NUM_VAL = 24, 8


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
def toy_coco(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp('toy') / 'coco'
    return make_toy_coco(str(out_dir), num_train=NUM_TRAIN, num_val=NUM_VAL)


def test_layout_and_counts(toy_coco):
    root = toy_coco['root']
    assert toy_coco['classes'] == ('rgb-pos', 'b-anti', 'g-anti')
    assert sorted(os.listdir(root)) == ['annotations', 'train', 'val']
    assert sorted(os.listdir(osp.join(root, 'annotations'))) == [
        'instances_train.json', 'instances_val.json'
    ]
    for split, count in (('train', NUM_TRAIN), ('val', NUM_VAL)):
        files = sorted(os.listdir(toy_coco[f'{split}_img_dir']))
        assert len(files) == count == toy_coco[f'num_{split}']
        assert all(name.endswith('.jpg') for name in files)


@pytest.mark.parametrize('split', ['train', 'val'])
def test_annotations_are_valid_coco(toy_coco, split):
    with open(toy_coco[f'{split}_ann_file']) as f:
        coco = json.load(f)
    assert [c['name'] for c in sorted(coco['categories'], key=lambda c: c['id'])] == list(
        toy_coco['classes'])
    category_ids = {c['id'] for c in coco['categories']}
    images = {image['id']: image for image in coco['images']}
    assert len(images) == len(coco['images'])
    for image in coco['images']:
        with Image.open(osp.join(toy_coco[f'{split}_img_dir'], image['file_name'])) as img:
            assert img.size == (image['width'], image['height']) == (128, 128)
            assert img.mode == 'RGB'

    assert len({ann['id'] for ann in coco['annotations']}) == len(coco['annotations'])
    objects_per_image = {image_id: 0 for image_id in images}
    for ann in coco['annotations']:
        image = images[ann['image_id']]
        objects_per_image[ann['image_id']] += 1
        assert ann['category_id'] in category_ids
        assert ann['iscrowd'] == 0
        assert len(ann['segmentation']) == 1
        polygon = np.asarray(ann['segmentation'][0]).reshape(-1, 2)
        assert len(polygon) >= 3
        assert (polygon >= 0).all()
        assert (polygon[:, 0] <= image['width']).all() and (polygon[:, 1] <= image['height']).all()
        x, y, w, h = ann['bbox']
        assert np.allclose([x, y, x + w, y + h], [*polygon.min(axis=0), *polygon.max(axis=0)],
                           atol=0.02)
        assert 32 - 0.02 <= max(w, h) <= 72 + 0.02
        assert 0 < ann['area'] <= w * h
        assert ann['area'] == pytest.approx(polygon_area(polygon), abs=0.02)
    assert all(1 <= count <= 3 for count in objects_per_image.values())


def test_objects_are_drawn(toy_coco):
    """The pixels inside an object show its texture: more contrast than the background."""
    import pycocotools.coco as pycocotools_coco
    coco = pycocotools_coco.COCO(toy_coco['val_ann_file'])
    for image_id in coco.getImgIds():
        info = coco.loadImgs(image_id)[0]
        grey = np.asarray(
            Image.open(osp.join(toy_coco['val_img_dir'], info['file_name'])).convert('L'),
            dtype=np.float64)
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[image_id]))
        masks = [coco.annToMask(ann).astype(bool) for ann in anns]
        background = ~np.any(masks, axis=0)
        for ann, mask in zip(anns, masks):
            # pycocotools' rasterisation agrees with the stored area.
            assert mask.sum() == pytest.approx(ann['area'], rel=0.15)
            assert grey[mask].std() > grey[background].std()


def test_category_is_the_sign_pattern_of_the_rgb_correlations(toy_coco):
    """An object's category is its texture's RGB correlation sign pattern; its per-channel mean
    does not tell the categories apart."""
    import pycocotools.coco as pycocotools_coco
    expected_signs = {1: (1, 1, 1), 2: (1, -1, -1), 3: (-1, 1, -1)}  # signs of (RG, RB, GB)
    hits, means = [], {k: [] for k in expected_signs}
    for split in ('train', 'val'):
        coco = pycocotools_coco.COCO(toy_coco[f'{split}_ann_file'])
        for image_id in coco.getImgIds():
            info = coco.loadImgs(image_id)[0]
            pixels = np.asarray(Image.open(osp.join(toy_coco[f'{split}_img_dir'],
                                                    info['file_name'])), dtype=np.float64)
            for ann in coco.loadAnns(coco.getAnnIds(imgIds=[image_id])):
                inside = pixels[coco.annToMask(ann).astype(bool)]
                corr = np.corrcoef(inside.T)[np.triu_indices(3, 1)]
                hits.append(tuple(np.sign(corr).astype(int)) == expected_signs[ann['category_id']])
                means[ann['category_id']].append(inside.mean())
    assert np.mean(hits) > 0.8  # chance: 1 in 8 sign triples; misses are the smallest objects
    grand = np.mean([m for v in means.values() for m in v])
    assert all(abs(np.mean(v) - grand) < 10 for v in means.values())


def test_same_seed_same_bytes(tmp_path):
    kwargs = dict(num_train=3, num_val=2, img_size=64)
    first = tree_digest(make_toy_coco(str(tmp_path / 'a'), seed=5, **kwargs)['root'])
    second = tree_digest(make_toy_coco(str(tmp_path / 'b'), seed=5, **kwargs)['root'])
    other = tree_digest(make_toy_coco(str(tmp_path / 'c'), seed=6, **kwargs)['root'])
    assert first == second
    assert first.keys() == other.keys()
    assert all(first[path] != other[path] for path in first)


def test_invalid_arguments(tmp_path):
    with pytest.raises(ValueError, match='num_classes'):
        make_toy_coco(str(tmp_path / 'a'), num_classes=5)
    with pytest.raises(ValueError, match='num_train'):
        make_toy_coco(str(tmp_path / 'b'), num_train=0)


def test_loads_in_mmdet_and_evaluates_with_coco_metric(toy_coco):
    import mmdet.datasets as mmdet_datasets
    import torch
    from mmdet.evaluation import CocoMetric

    classes = toy_coco['classes']
    dataset = mmdet_datasets.CocoDataset(
        data_root=toy_coco['root'],
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        metainfo=dict(classes=classes),
        test_mode=True,
        pipeline=[])
    assert len(dataset) == NUM_VAL
    assert dataset.metainfo['classes'] == classes

    with open(toy_coco['val_ann_file']) as f:
        coco = json.load(f)
    data_samples = []
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        assert osp.isfile(info['img_path'])
        anns = [ann for ann in coco['annotations'] if ann['image_id'] == info['img_id']]
        assert len(info['instances']) == len(anns)
        for instance, ann in zip(info['instances'], anns):
            x, y, w, h = ann['bbox']
            assert instance['bbox'] == pytest.approx([x, y, x + w, y + h])
            assert instance['bbox_label'] == ann['category_id'] - 1
            assert instance['mask'] == ann['segmentation']
        # The ground truth itself as a perfect prediction.
        from pycocotools import mask as mask_util
        height, width = info['height'], info['width']
        masks = np.stack([
            mask_util.decode(mask_util.merge(mask_util.frPyObjects(i['mask'], height, width)))
            for i in info['instances']
        ]).astype(bool)
        data_samples.append(
            dict(
                img_id=info['img_id'],
                ori_shape=(height, width),
                pred_instances=dict(
                    bboxes=torch.tensor([i['bbox'] for i in info['instances']]),
                    scores=torch.ones(len(info['instances'])),
                    labels=torch.tensor([i['bbox_label'] for i in info['instances']]),
                    masks=torch.from_numpy(masks))))

    metric = CocoMetric(ann_file=toy_coco['val_ann_file'], metric=['bbox', 'segm'])
    metric.dataset_meta = dataset.metainfo
    metric.process({}, data_samples)
    results = metric.evaluate(size=len(data_samples))
    assert results['coco/bbox_mAP'] == pytest.approx(1.0)
    assert results['coco/segm_mAP'] == pytest.approx(1.0)
