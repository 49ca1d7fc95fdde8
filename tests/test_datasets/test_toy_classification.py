# Copyright (c) mmgcp contributors. All rights reserved.
import hashlib
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mmgcp.datasets.toy import make_toy_classification
from mmgcp.datasets.toy.classification import MEAN_COLOUR, toy_class_spec

NUM_CLASSES = 4


def tree_digest(root):
    """Relative path -> sha256 of every file under ``root``."""
    digests = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = osp.join(folder, name)
            with open(path, 'rb') as f:
                digests[osp.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return digests


def load_split(info, split):
    """Images of shape (N, H, W, 3) as float64 and labels of shape (N, ), from meta/<split>.txt."""
    images, labels = [], []
    with open(info[f'{split}_ann_file']) as f:
        for line in f:
            rel_path, label = line.split()
            images.append(np.asarray(Image.open(osp.join(info[f'{split}_dir'], rel_path))))
            labels.append(int(label))
    return np.stack(images).astype(np.float64), np.asarray(labels)


def channel_correlations(images):
    """Off-diagonal RGB correlations (RG, RB, GB) of each image: shape (N, 3)."""
    pixels = images.reshape(len(images), -1, 3)
    return np.stack([np.corrcoef(p.T)[np.triu_indices(3, 1)] for p in pixels])


def gradient_orientation(images):
    """Dominant gradient direction (radians, modulo pi) of each grey image, from the structure
    tensor: the direction a covariance of gradients sees and a mean cannot."""
    grad_y, grad_x = np.gradient(images.mean(axis=-1), axis=(1, 2))
    jxx, jyy = (grad_x**2).mean(axis=(1, 2)), (grad_y**2).mean(axis=(1, 2))
    jxy = (grad_x * grad_y).mean(axis=(1, 2))
    return 0.5 * np.arctan2(2 * jxy, jxx - jyy)


def nearest_centroid_accuracy(train_x, train_y, val_x, val_y):
    centroids = np.stack([train_x[train_y == k].mean(axis=0) for k in range(NUM_CLASSES)])
    pred = ((val_x[:, None] - centroids[None])**2).sum(axis=-1).argmin(axis=1)
    return (pred == val_y).mean()


@pytest.fixture(scope='module')
def toy_cls(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp('toy') / 'cls'
    return make_toy_classification(
        str(out_dir), num_classes=NUM_CLASSES, num_train_per_class=30, num_val_per_class=15)


def test_layout_and_counts(toy_cls):
    root = toy_cls['root']
    classes = toy_cls['classes']
    assert classes == ('tex00_rgb-pos', 'tex01_b-anti', 'tex02_g-anti', 'tex03_r-anti')
    # Folder-scanning datasets number classes in sorted order: it must be the label order.
    assert sorted(os.listdir(toy_cls['train_dir'])) == list(classes)
    assert sorted(os.listdir(toy_cls['val_dir'])) == list(classes)
    with open(toy_cls['classes_file']) as f:
        assert f.read().split() == list(classes)
    for split, per_class in (('train', 30), ('val', 15)):
        with open(osp.join(root, 'meta', f'{split}.txt')) as f:
            lines = [line.split() for line in f]
        assert len(lines) == per_class * NUM_CLASSES == toy_cls[f'num_{split}']
        for rel_path, label in lines:
            assert rel_path.split('/')[0] == classes[int(label)]
            assert osp.isfile(osp.join(root, split, rel_path))
        for name in classes:
            assert len(os.listdir(osp.join(root, split, name))) == per_class
    image = Image.open(osp.join(toy_cls['train_dir'], classes[0], f'{classes[0]}_0000.png'))
    assert image.mode == 'RGB' and image.size == (64, 64)


def test_same_seed_same_bytes(tmp_path):
    kwargs = dict(num_classes=3, num_train_per_class=3, num_val_per_class=2, img_size=32)
    first = tree_digest(make_toy_classification(str(tmp_path / 'a'), seed=1, **kwargs)['root'])
    second = tree_digest(make_toy_classification(str(tmp_path / 'b'), seed=1, **kwargs)['root'])
    other = tree_digest(make_toy_classification(str(tmp_path / 'c'), seed=2, **kwargs)['root'])
    assert first == second
    assert first.keys() == other.keys()
    images = [path for path in first if path.endswith('.png')]
    assert all(first[path] != other[path] for path in images)


def test_first_order_statistics_match_across_classes(toy_cls):
    images, labels = load_split(toy_cls, 'train')
    for statistic in (images.mean(axis=(1, 2)), images.std(axis=(1, 2))):  # per image, channel
        per_class = [statistic[labels == k] for k in range(NUM_CLASSES)]
        class_means = np.stack([values.mean(axis=0) for values in per_class])
        standard_errors = np.stack(
            [values.std(axis=0) / np.sqrt(len(values)) for values in per_class])
        # Class averages differ from the overall average only by sampling noise.
        z_scores = (class_means - statistic.mean(axis=0)) / standard_errors
        assert np.abs(z_scores).max() < 4
    class_means = np.stack([images[labels == k].mean(axis=(0, 1, 2)) for k in range(NUM_CLASSES)])
    assert np.abs(class_means - np.asarray(MEAN_COLOUR)).max() < 5


def test_second_order_statistics_separate_classes(toy_cls):
    train_images, train_labels = load_split(toy_cls, 'train')
    val_images, val_labels = load_split(toy_cls, 'val')
    train_corr, val_corr = channel_correlations(train_images), channel_correlations(val_images)
    for k in range(NUM_CLASSES):
        _, signs, _ = toy_class_spec(k, NUM_CLASSES)
        expected = np.sign(np.outer(signs, signs)[np.triu_indices(3, 1)])
        mean_corr = train_corr[train_labels == k].mean(axis=0)
        assert (np.sign(mean_corr) == expected).all() and (np.abs(mean_corr) > 0.25).all()

    corr_acc = nearest_centroid_accuracy(train_corr, train_labels, val_corr, val_labels)
    mean_acc = nearest_centroid_accuracy(
        train_images.mean(axis=(1, 2)), train_labels, val_images.mean(axis=(1, 2)), val_labels)
    assert corr_acc >= 0.9
    assert mean_acc <= 0.55  # chance is 0.25



def test_orientation_separates_classes_beyond_four(tmp_path):
    info = make_toy_classification(
        str(tmp_path / 'eight'),
        num_classes=8,
        num_train_per_class=8,
        num_val_per_class=1,
        img_size=48)
    assert info['classes'][:2] == ('tex00_rgb-pos_000deg', 'tex01_b-anti_000deg')
    assert info['classes'][4:6] == ('tex04_rgb-pos_090deg', 'tex05_b-anti_090deg')
    images, labels = load_split(info, 'train')
    orientation = gradient_orientation(images)
    for k in range(8):
        _, _, angle = toy_class_spec(k, 8)
        # Mean of doubled angles, as orientations are defined modulo pi.
        mean_doubled = np.angle(np.exp(2j * orientation[labels == k]).mean())
        error = np.angle(np.exp(1j * (mean_doubled - 2 * angle))) / 2
        assert abs(np.rad2deg(error)) < 10


def test_invalid_arguments(tmp_path):
    with pytest.raises(ValueError, match='num_classes'):
        make_toy_classification(str(tmp_path / 'a'), num_classes=1)
    with pytest.raises(ValueError, match='img_size'):
        make_toy_classification(str(tmp_path / 'b'), img_size=8)
    (tmp_path / 'c').mkdir()
    (tmp_path / 'c' / 'old.txt').write_text('x')
    with pytest.raises(FileExistsError, match='not empty'):
        make_toy_classification(str(tmp_path / 'c'))


def test_loads_in_mmpretrain_custom_dataset(toy_cls):
    import mmpretrain.datasets as datasets
    expected = load_split(toy_cls, 'val')[1]
    # Folder mode: classes and labels from the sub-folders.
    by_folder = datasets.CustomDataset(data_root=toy_cls['root'], data_prefix='val')
    # Annotation-file mode, as ImageNet configs use it.
    by_ann_file = datasets.CustomDataset(
        data_root=toy_cls['root'],
        data_prefix='val',
        ann_file='meta/val.txt',
        metainfo=dict(classes=toy_cls['classes_file']))
    for dataset in (by_folder, by_ann_file):
        assert len(dataset) == toy_cls['num_val']
        assert tuple(dataset.CLASSES) == toy_cls['classes']
        assert sorted(dataset.get_gt_labels().tolist()) == sorted(expected.tolist())
        info = dataset.get_data_info(0)
        assert osp.isfile(info['img_path'])
        assert osp.basename(osp.dirname(info['img_path'])) == toy_cls['classes'][info['gt_label']]
