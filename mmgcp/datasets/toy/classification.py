# Copyright (c) mmgcp contributors. All rights reserved.
"""A toy ImageNet-format classification set whose classes differ only in second-order statistics.

Every image is an oriented random texture whose three colour channels are independent band-pass
noise fields mixed by a class-specific correlation matrix. After mixing, every channel of every
image is rescaled to the same (jittered) mean and standard deviation, so per-channel means and
variances -- what global average pooling of raw colours sees -- carry no class information; the
sign pattern of the channel correlations -- what a covariance of features sees -- does. Beyond four
classes the texture orientation, another second-order statistic, tells classes of the same sign
pattern apart; up to four classes it is random, a nuisance.
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

import numpy as np
from PIL import Image

from .textures import band_pass_noise
from .utils import SPLIT_CODES, check_int, check_seed, image_rng, prepare_out_dir

#: Mean RGB colour and per-channel standard deviation of every image, whatever its class.
MEAN_COLOUR = (124.0, 120.0, 112.0)
CHANNEL_STD = 40.0

#: Channel sign flips that turn the all-positive correlation matrix into the four sign patterns of
#: a valid 3x3 correlation matrix, with the names used in the class names.
CORRELATION_PATTERNS = (
    ('rgb-pos', (1.0, 1.0, 1.0)),  # all channels positively correlated: grey texture
    ('b-anti', (1.0, 1.0, -1.0)),  # blue anti-correlated with red and green
    ('g-anti', (1.0, -1.0, 1.0)),
    ('r-anti', (-1.0, 1.0, 1.0)),
)

#: Most classes a toy set may have: 4 sign patterns x 3 orientations.
MAX_CLASSES = 12


def toy_class_spec(class_index: int, num_classes: int) -> Tuple[str, np.ndarray, Optional[float]]:
    """Name, channel signs and texture orientation of one toy class.

    Class ``k`` uses correlation sign pattern ``k % 4``. With more than four classes, class ``k``
    also has orientation group ``k // 4`` of ``ceil(num_classes / 4)`` evenly spaced orientations;
    with four or fewer, orientation is random.

    Args:
        class_index (int): Index ``k`` of the class.
        num_classes (int): Number of classes of the set.

    Returns:
        tuple[str, np.ndarray, float | None]: Class name (zero-padded index first, so names sort in
        index order as folder-scanning datasets require), channel signs of shape ``(3, )``, and the
        orientation in radians of the texture's wave vector (None: random).
    """
    pattern_name, signs = CORRELATION_PATTERNS[class_index % len(CORRELATION_PATTERNS)]
    name = f'tex{class_index:02d}_{pattern_name}'
    angle = None
    if num_classes > len(CORRELATION_PATTERNS):
        num_groups = -(-num_classes // len(CORRELATION_PATTERNS))
        degrees = 180.0 * (class_index // len(CORRELATION_PATTERNS)) / num_groups
        name += f'_{int(round(degrees)):03d}deg'
        angle = float(np.deg2rad(degrees))
    return name, np.asarray(signs), angle


def correlated_texture(rng: np.random.Generator, signs: np.ndarray, size: Tuple[int, int],
                       angle: Optional[float] = None) -> np.ndarray:
    """A random colour texture whose RGB correlations have the sign pattern ``signs``.

    Three independent band-pass noise fields (oriented plus some isotropic noise) are mixed by an
    all-positive correlation matrix of random strength, the channels in ``signs`` are flipped,
    pixel noise weakens the correlation, and each channel is then standardised and given the same
    jittered mean and standard deviation, whatever ``signs`` is. The toy classes, the toy COCO
    categories and the toy ADE20K classes are all textures of this kind, so what a classifier
    learns on one set is what the others need.

    Args:
        rng (np.random.Generator): Source of randomness.
        signs (np.ndarray): Channel sign flips of shape ``(3, )`` (see
            :data:`CORRELATION_PATTERNS`).
        size (tuple[int, int]): ``(height, width)``.
        angle (float, optional): Orientation of the texture's wave vector in radians. Defaults to
            None (random).

    Returns:
        np.ndarray: Float array of shape ``(height, width, 3)`` in pixel units (not clipped).
    """
    # Independent channels: oriented noise plus some isotropic noise.
    if angle is None:
        angle = rng.uniform(0.0, np.pi)
    else:
        angle += rng.normal(0.0, np.deg2rad(8.0))
    oriented = band_pass_noise(
        rng, size, frequency=rng.uniform(0.08, 0.2), bandwidth=0.03, angle=angle, num_channels=3)
    isotropic = band_pass_noise(
        rng, size, frequency=rng.uniform(0.05, 0.3), bandwidth=0.05, num_channels=3)
    isotropic_share = rng.uniform(0.1, 0.5)
    fields = np.sqrt(1 - isotropic_share) * oriented + np.sqrt(isotropic_share) * isotropic

    # Mix channels with the all-positive correlation matrix of a random strength, then flip the
    # class's channels: the correlation's sign pattern is the class, its strength is a nuisance,
    # and the pixel noise weakens it further so a few epochs of a small CNN do not saturate.
    rho = rng.uniform(0.2, 0.7)
    correlation = np.full((3, 3), rho) + (1 - rho) * np.eye(3)
    mixed = fields.reshape(-1, 3) @ np.linalg.cholesky(correlation).T * np.asarray(signs)
    mixed += rng.normal(0.0, rng.uniform(0.3, 0.8), size=mixed.shape)

    # Same first-order statistics for every class: exact standardisation, then a brightness and
    # contrast jitter drawn from one distribution for all classes.
    mixed = (mixed - mixed.mean(axis=0)) / mixed.std(axis=0)
    mean = np.asarray(MEAN_COLOUR) + rng.normal(0.0, 6.0, size=3)
    std = CHANNEL_STD * rng.uniform(0.8, 1.2) * rng.uniform(0.9, 1.1, size=3)
    return (mean + std * mixed).reshape(*size, 3)


def make_toy_class_image(rng: np.random.Generator, class_index: int, num_classes: int,
                         img_size: int) -> np.ndarray:
    """Draw one image of a toy class.

    Args:
        rng (np.random.Generator): Source of randomness.
        class_index (int): Index of the class.
        num_classes (int): Number of classes of the set.
        img_size (int): Height and width in pixels.

    Returns:
        np.ndarray: Uint8 RGB image of shape ``(img_size, img_size, 3)``.
    """
    _, signs, angle = toy_class_spec(class_index, num_classes)
    image = correlated_texture(rng, signs, (img_size, img_size), angle)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def make_toy_classification(out_dir: str,
                            num_classes: int = 4,
                            num_train_per_class: int = 60,
                            num_val_per_class: int = 20,
                            img_size: int = 64,
                            seed: int = 0) -> Dict:
    """Write a toy classification set in mmpretrain's ``CustomDataset`` (ImageNet) format.

    Layout (``<name>`` is a class name such as ``tex01_b-anti``)::

        out_dir/
            train/<name>/<name>_0000.png ...
            val/<name>/<name>_0000.png ...
            meta/train.txt   # "<name>/<name>_0000.png <label>", paths relative to train/
            meta/val.txt     # the same, relative to val/
            meta/classes.txt # one class name per line, in label order

    It loads either by scanning folders (``data_root=out_dir, data_prefix='train'``) or from the
    annotation files (``data_root=out_dir, data_prefix='train', ann_file='meta/train.txt',
    metainfo=dict(classes='<out_dir>/meta/classes.txt')``); both give the same labels.

    Classes share per-channel means and variances and differ in the sign pattern of their channel
    correlations (and, beyond four classes, in texture orientation); see :func:`toy_class_spec`.

    Args:
        out_dir (str): Folder to create; it must not exist or be empty.
        num_classes (int): Number of classes, 2 to 12. Defaults to 4.
        num_train_per_class (int): Training images per class. Defaults to 60.
        num_val_per_class (int): Validation images per class. Defaults to 20.
        img_size (int): Height and width of the images, at least 16. Defaults to 64.
        seed (int): Seed; the same seed writes identical files. Defaults to 0.

    Returns:
        dict: ``root`` (absolute ``out_dir``), ``classes`` (tuple of class names in label order),
        ``train_dir``, ``val_dir``, ``train_ann_file``, ``val_ann_file``, ``classes_file``
        (absolute paths), ``num_train`` and ``num_val`` (image counts).
    """
    check_int('num_classes', num_classes, 2, MAX_CLASSES)
    check_int('num_train_per_class', num_train_per_class, 1)
    check_int('num_val_per_class', num_val_per_class, 1)
    check_int('img_size', img_size, 16)
    check_seed(seed)
    root = prepare_out_dir(out_dir)
    classes = tuple(toy_class_spec(k, num_classes)[0] for k in range(num_classes))
    os.makedirs(osp.join(root, 'meta'))

    counts = {'train': num_train_per_class, 'val': num_val_per_class}
    for split, num_per_class in counts.items():
        lines: List[str] = []
        for label, name in enumerate(classes):
            os.makedirs(osp.join(root, split, name))
            for index in range(num_per_class):
                rng = image_rng(seed, SPLIT_CODES[split], label, index)
                image = make_toy_class_image(rng, label, num_classes, img_size)
                rel_path = f'{name}/{name}_{index:04d}.png'
                Image.fromarray(image).save(osp.join(root, split, rel_path))
                lines.append(f'{rel_path} {label}\n')
        with open(osp.join(root, 'meta', f'{split}.txt'), 'w') as f:
            f.writelines(lines)
    with open(osp.join(root, 'meta', 'classes.txt'), 'w') as f:
        f.writelines(f'{name}\n' for name in classes)

    return dict(
        root=root,
        classes=classes,
        train_dir=osp.join(root, 'train'),
        val_dir=osp.join(root, 'val'),
        train_ann_file=osp.join(root, 'meta', 'train.txt'),
        val_ann_file=osp.join(root, 'meta', 'val.txt'),
        classes_file=osp.join(root, 'meta', 'classes.txt'),
        num_train=num_classes * num_train_per_class,
        num_val=num_classes * num_val_per_class)
