# Copyright (c) mmgcp contributors. All rights reserved.
"""mmgcp/datasets/paper_layout.py: tiny ImageNet / COCO / ADE20K sets in the real layouts.

The sets are loaded through the paper configs' own datasets and pipelines (mmpretrain, mmdet, mmseg
registries, ``data_root`` pointed at the written folders as ``--cfg-options`` would), and one item
of each must come out at the paper's input size.
"""
import json
import os
import os.path as osp
import random

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope
from PIL import Image

from mmgcp.datasets.paper_layout import (
    MARKER,
    ForeignFolderError,
    read_marker,
    write_ade20k,
    write_coco,
    write_imagenet,
    write_owned_folder,
)
from mmgcp.utils import check_data

PRETRAIN_CONFIGS = ['configs/pretrain/resnet50-gap_8xb32_in1k.py',
                    'configs/pretrain/resnet50-gcp_8xb32_in1k.py',
                    'configs/pretrain/resnet50-dropcov_8xb32_in1k.py']
MASK_RCNN = 'configs/mask_rcnn/mask-rcnn_r50-gap_fpn_1x_coco.py'
FASTER_RCNN = 'configs/faster_rcnn/faster-rcnn_r50-gcp_fpn_1x_coco.py'
UPERNET = 'configs/upernet/upernet_r50-dropcov_4xb4-160k_ade20k-512x512.py'
# COCO 2017 has 80 categories with ids 1..90; these ten ids are unused.
COCO_UNUSED_IDS = {12, 26, 29, 30, 45, 66, 68, 69, 71, 83}


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
    """The three sets with the default counts, as make_paper_rehearsal.py writes them."""
    root = tmp_path_factory.mktemp('rehearsal') / 'data'
    return dict(imagenet=write_imagenet(str(root / 'imagenet')),
                coco=write_coco(str(root / 'coco')),
                ade=write_ade20k(str(root / 'ade')))


def paper_config(repo_root, config, data_root, ann_file=None):
    """The config with every dataloader's data_root (and the COCO evaluators' ann_file) moved."""
    cfg = Config.fromfile(osp.join(repo_root, config))
    options = {}
    for split in ('train', 'val', 'test'):
        if cfg.get(f'{split}_dataloader'):
            options[f'{split}_dataloader.dataset.data_root'] = data_root
        if ann_file and split != 'train':
            options[f'{split}_evaluator.ann_file'] = ann_file
    cfg.merge_from_dict(options)
    return cfg


def build_dataset(cfg, split):
    """The config's ``{split}_dataloader.dataset``, built in the config's own scope."""
    scope = cfg.get('default_scope', 'mmpretrain')
    registry = {
        'mmpretrain': 'mmpretrain.registry', 'mmdet': 'mmdet.registry', 'mmseg': 'mmseg.registry'
    }[scope]
    datasets = __import__(registry, fromlist=['DATASETS']).DATASETS
    with DefaultScope.overwrite_default_scope(scope):
        return datasets.build(cfg[f'{split}_dataloader'].dataset)


def preprocess(cfg, item):
    """The batch the model receives: the config's data_preprocessor on a batch of one item."""
    scope = cfg.default_scope
    models = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
    with DefaultScope.overwrite_default_scope(scope):
        preprocessor = models.build(cfg.model.data_preprocessor)
    return preprocessor(dict(inputs=[item['inputs']], data_samples=[item['data_samples']]),
                        training=True)


@pytest.mark.parametrize('config', PRETRAIN_CONFIGS)
def test_imagenet_val_through_pretrain_configs(repo_root, data_dir, config):
    imagenet = data_dir['imagenet']
    cfg = paper_config(repo_root, config, imagenet['data_root'])
    check_data(cfg, ('test', ))  # what the benchmark checks for an evaluate-only run
    with open(osp.join(imagenet['data_root'], 'meta', 'val.txt')) as f:
        lines = [line.split() for line in f]
    assert len(lines) == 8
    dataset = build_dataset(cfg, 'test')
    assert len(dataset) == 8
    assert len(dataset.metainfo['classes']) == 1000
    item = dataset[0]
    # The test pipeline of the paper: short side 256, centre crop 224.
    assert tuple(item['inputs'].shape) == (3, 224, 224)
    assert item['inputs'].float().std() > 10  # a picture, not a blank
    assert lines[0][0] == 'ILSVRC2012_val_00000001.JPEG'
    assert int(item['data_samples'].gt_label) == int(lines[0][1])
    labels = [int(label) for _, label in lines]
    assert all(0 <= label < 1000 for label in labels) and len(set(labels)) > 1
    with Image.open(osp.join(imagenet['data_root'], 'val', lines[1][0])) as image:
        assert (image.format, image.mode, image.size) == ('JPEG', 'RGB', (375, 500))


@pytest.mark.parametrize('config', [MASK_RCNN, FASTER_RCNN])
def test_coco_through_detection_configs(repo_root, data_dir, config):
    coco = data_dir['coco']
    cfg = paper_config(repo_root, config, coco['data_root'], coco['val_ann_file'])
    check_data(cfg, ('train', 'val', 'test'))
    train, val = build_dataset(cfg, 'train'), build_dataset(cfg, 'val')
    # filter_empty_gt keeps every training image: each has objects.
    assert (len(train), len(val)) == (4, 2)
    with open(coco['train_ann_file']) as f:
        annotations = json.load(f)
    first = annotations['images'][0]
    assert (first['width'], first['height']) == (640, 480)
    assert first['file_name'] == f"{first['id']:012d}.jpg"
    np.random.seed(0)
    random.seed(0)
    item = train[0]
    # Resize to (1333, 800) keeping the ratio: 640x480 -> 1067x800.
    assert tuple(item['inputs'].shape) == (3, 800, 1067)
    instances = item['data_samples'].gt_instances
    num_objects = sum(a['image_id'] == first['id'] for a in annotations['annotations'])
    assert len(instances.bboxes) == num_objects >= 3
    if 'mask' in config:
        assert instances.masks.masks.shape == (num_objects, 800, 1067)
        assert instances.masks.masks.any(axis=(1, 2)).all()  # every mask covers pixels
    batch = preprocess(cfg, item)
    assert tuple(batch['inputs'].shape) == (1, 3, 800, 1088)  # padded to a multiple of 32


@pytest.mark.parametrize('split', ['train', 'val'])
def test_coco_annotations_are_coco(data_dir, split):
    from mmdet.datasets import CocoDataset

    coco = data_dir['coco']
    with open(coco[f'{split}_ann_file']) as f:
        annotations = json.load(f)
    assert set(annotations) == {'info', 'licenses', 'images', 'annotations', 'categories'}
    categories = sorted(annotations['categories'], key=lambda c: c['id'])
    assert [c['name'] for c in categories] == list(CocoDataset.METAINFO['classes'])
    assert {c['id'] for c in categories} == set(range(1, 91)) - COCO_UNUSED_IDS
    sizes = {}
    for image in annotations['images']:
        with Image.open(osp.join(coco['data_root'], f'{split}2017', image['file_name'])) as img:
            assert (img.format, img.mode) == ('JPEG', 'RGB')
            assert img.size == (image['width'], image['height'])
        sizes[image['id']] = (image['width'], image['height'])
    assert list(sizes.values())[:2] == [(640, 480), (640, 427)]
    ids = [a['id'] for a in annotations['annotations']]
    assert len(ids) == len(set(ids))
    for ann in annotations['annotations']:
        x, y, w, h = ann['bbox']
        width, height = sizes[ann['image_id']]
        assert 0 <= x and 0 <= y and x + w <= width and y + h <= height and w > 0 and h > 0
        polygon = np.array(ann['segmentation'][0]).reshape(-1, 2)
        assert np.allclose(polygon.min(0), (x, y), atol=0.02)
        assert np.allclose(polygon.max(0), (x + w, y + h), atol=0.02)
        assert 0 < ann['area'] <= w * h and ann['iscrowd'] == 0
        assert ann['category_id'] not in COCO_UNUSED_IDS


def test_coco_objects_span_coco_sizes(data_dir):
    """Small (< 32^2), medium and large (> 96^2) objects, as COCO's AP_S/M/L need."""
    areas = []
    for split in ('train', 'val'):
        with open(data_dir['coco'][f'{split}_ann_file']) as f:
            areas += [a['area'] for a in json.load(f)['annotations']]
    assert min(areas) < 32**2 and max(areas) > 96**2
    assert any(32**2 <= area <= 96**2 for area in areas)


def test_ade20k_through_upernet_config(repo_root, data_dir):
    ade = data_dir['ade']
    cfg = paper_config(repo_root, UPERNET, ade['data_root'])
    check_data(cfg, ('train', 'val', 'test'))
    train, val = build_dataset(cfg, 'train'), build_dataset(cfg, 'val')
    assert (len(train), len(val)) == (4, 2)
    assert len(train.metainfo['classes']) == 150
    np.random.seed(0)
    random.seed(0)
    full_crops = 0
    for index in range(len(train)):
        item = train[index]
        height, width = item['inputs'].shape[1:]
        labels = item['data_samples'].gt_sem_seg.data
        assert height <= 512 and width <= 512
        assert tuple(labels.shape) == (1, height, width)
        # reduce_zero_label: "other" (0) becomes 255, class k becomes k - 1.
        values = set(labels.unique().tolist())
        assert values <= set(range(150)) | {255} and values - {255}
        full_crops += (height, width) == (512, 512)
        batch = preprocess(cfg, item)
        assert tuple(batch['inputs'].shape) == (1, 3, 512, 512)  # the paper's crop
    assert full_crops > 0


def test_ade20k_files(data_dir):
    root = data_dir['ade']['data_root']
    assert osp.basename(root) == 'ADEChallengeData2016'
    for folder, prefix, count in (('training', 'ADE_train', 4), ('validation', 'ADE_val', 2)):
        names = sorted(os.listdir(osp.join(root, 'images', folder)))
        assert names == [f'{prefix}_{i:08d}.jpg' for i in range(1, count + 1)]
        for name in names:
            with Image.open(osp.join(root, 'images', folder, name)) as image, \
                    Image.open(osp.join(root, 'annotations', folder,
                                        name.replace('.jpg', '.png'))) as label:
                assert (image.format, image.mode) == ('JPEG', 'RGB')
                assert (label.format, label.mode) == ('PNG', 'L')
                assert label.size == image.size
                values = np.unique(np.asarray(label))
                assert values.max() <= 150 and len(values) >= 4
        with Image.open(osp.join(root, 'images', folder, names[0])) as image:
            assert image.size == (683, 512)


def test_same_seed_same_files_and_rewrites(tmp_path):
    first = write_imagenet(str(tmp_path / 'a'), num_val=2, seed=3)
    second = write_imagenet(str(tmp_path / 'b'), num_val=2, seed=3)
    other = write_imagenet(str(tmp_path / 'c'), num_val=2, seed=4)

    def read(info, name='ILSVRC2012_val_00000001.JPEG'):
        with open(osp.join(info['data_root'], 'val', name), 'rb') as f:
            return f.read()

    assert read(first) == read(second) != read(other)
    assert first['status'] == 'written'
    mtime = os.stat(osp.join(first['data_root'], 'meta', 'val.txt')).st_mtime_ns
    assert write_imagenet(str(tmp_path / 'a'), num_val=2, seed=3)['status'] == 'skipped'
    assert os.stat(osp.join(first['data_root'], 'meta', 'val.txt')).st_mtime_ns == mtime
    # A set written here with other settings is replaced.
    assert write_imagenet(str(tmp_path / 'a'), num_val=3, seed=3)['status'] == 'replaced'
    assert len(os.listdir(osp.join(first['data_root'], 'val'))) == 3
    assert sorted(os.listdir(tmp_path)) == ['a', 'b', 'c']  # no temporary folders left


def test_refuses_a_folder_it_did_not_write(tmp_path):
    real = tmp_path / 'coco'
    (real / 'annotations').mkdir(parents=True)
    ann_file = real / 'annotations' / 'instances_train2017.json'
    ann_file.write_text('{"images": []}')
    with pytest.raises(ForeignFolderError, match=f'{real}.*not written by the rehearsal'):
        write_coco(str(real))
    assert ann_file.read_text() == '{"images": []}'
    assert sorted(os.listdir(real)) == ['annotations'] and not (real / MARKER).exists()
    assert os.listdir(tmp_path) == ['coco']  # no temporary folder left behind

    # A link may lead to a real data set: refused even when it points at an empty folder.
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'ade').symlink_to(tmp_path / 'empty')
    with pytest.raises(ForeignFolderError, match='symbolic link'):
        write_ade20k(str(tmp_path / 'ade'))
    assert os.listdir(tmp_path / 'empty') == []


def test_bad_counts_fail_before_writing(tmp_path):
    with pytest.raises(ValueError, match='num_train must be an integer >= 1, but got 0'):
        write_coco(str(tmp_path / 'coco'), num_train=0)
    with pytest.raises(ValueError, match='seed'):
        write_ade20k(str(tmp_path / 'ade'), seed=-1)
    assert os.listdir(tmp_path) == []



def test_a_writer_that_finishes_first_wins(tmp_path):
    """Two writers of the same folder at once: the later one keeps the first one's folder."""
    target = str(tmp_path / 'set')
    record = dict(set='example', seed=0)

    def fill_first(folder):
        with open(osp.join(folder, 'file.txt'), 'w') as f:
            f.write('first')

    def fill_second(folder):
        # The first writer completes while the second is still filling its temporary folder.
        assert write_owned_folder(target, record, fill_first) == 'written'
        with open(osp.join(folder, 'file.txt'), 'w') as f:
            f.write('second')

    assert write_owned_folder(target, record, fill_second) == 'skipped'
    with open(osp.join(target, 'file.txt')) as f:
        assert f.read() == 'first'
    assert read_marker(target)['record'] == record
    assert os.listdir(tmp_path) == ['set']
