# Copyright (c) mmgcp contributors. All rights reserved.
"""A toy ADE20K-format semantic segmentation set: regions of colour textures.

A region's class is the sign pattern of its RGB correlations -- the statistic that tells the toy
classification classes apart (:func:`~mmgcp.datasets.toy.classification.correlated_texture`);
orientation, frequency and per-channel means and variances are drawn from one distribution for
all classes, so segmenting needs what pretraining on the toy classification set teaches.
"""
import os
import os.path as osp
from typing import Dict, Tuple

import numpy as np
from PIL import Image

from .classification import CORRELATION_PATTERNS, correlated_texture
from .textures import render_texture, smooth_noise, to_uint8
from .utils import SPLIT_CODES, check_int, check_seed, image_rng, prepare_out_dir

#: Display colour of each class, in label order (class ``k`` is ``CORRELATION_PATTERNS[k]``).
PALETTE = ((230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200))

#: Chance that a region is "other" (label 0, ignored under ``reduce_zero_label=True``).
OTHER_PROBABILITY = 0.15

#: ADE20K's split folder names and file name prefixes.
ADE20K_SPLITS = {'train': ('training', 'ADE_train'), 'val': ('validation', 'ADE_val')}


def make_toy_ade20k_image(rng: np.random.Generator, num_classes: int,
                          img_size: int) -> Tuple[np.ndarray, np.ndarray]:
    """Draw one image and its label map.

    The image is cut into 3-7 regions by a Voronoi diagram with wavy borders; region of class
    ``k`` (label ``k + 1``) is a :func:`correlated_texture` of sign pattern
    ``CORRELATION_PATTERNS[k]`` with random orientation and scale; label 0 ("other") is soft
    blotches.

    Args:
        rng (np.random.Generator): Source of randomness.
        num_classes (int): Number of texture classes.
        img_size (int): Height and width in pixels.

    Returns:
        tuple[np.ndarray, np.ndarray]: Uint8 RGB image of shape ``(img_size, img_size, 3)`` and
        uint8 label map of shape ``(img_size, img_size)`` with values in ``0..num_classes``.
    """
    size = (img_size, img_size)
    num_regions = int(rng.integers(3, 8))
    centres = rng.uniform(0, img_size, size=(num_regions, 2))
    ys, xs = np.mgrid[0:img_size, 0:img_size].astype(np.float32)
    distances = np.stack([
        np.hypot(xs - cx, ys - cy) + img_size / 16 * smooth_noise(rng, size, img_size / 10)
        for cx, cy in centres
    ])
    region_map = distances.argmin(axis=0)

    class_probs = np.full(num_classes + 1, (1 - OTHER_PROBABILITY) / num_classes)
    class_probs[0] = OTHER_PROBABILITY
    region_labels = rng.choice(num_classes + 1, size=num_regions, p=class_probs)
    if not region_labels.any():  # every image shows at least one class
        region_labels[0] = rng.integers(1, num_classes + 1)

    image = np.zeros((*size, 3), dtype=np.float32)
    for region, label in enumerate(region_labels):
        if label > 0:
            texture = correlated_texture(rng, CORRELATION_PATTERNS[label - 1][1], size) / 255.0
        else:
            texture = render_texture('smooth', rng, size)
        inside = region_map == region
        image[inside] = texture[inside]
    return to_uint8(image, rng), region_labels[region_map].astype(np.uint8)


def make_toy_ade20k(out_dir: str,
                    num_train: int = 64,
                    num_val: int = 16,
                    img_size: int = 128,
                    num_classes: int = 4,
                    seed: int = 0) -> Dict:
    """Write a toy semantic segmentation set in ADE20K format.

    Layout::

        out_dir/
            images/training/ADE_train_00000001.jpg ...
            images/validation/ADE_val_00000001.jpg ...
            annotations/training/ADE_train_00000001.png ...
            annotations/validation/ADE_val_00000001.png ...

    Label maps are single-channel pngs: 0 is "other" (ignored with ``reduce_zero_label=True``, as
    in ADE20K), ``k + 1`` is class ``k``, the RGB correlation sign pattern
    ``CORRELATION_PATTERNS[k]`` (``'rgb-pos'``, ``'b-anti'``, ``'g-anti'``, ``'r-anti'``).
    mmseg's ``ADE20KDataset`` finds the files, but it refuses class names outside ADE20K's 150;
    load the toy classes with mmseg's ``BaseSegDataset``
    and ADE20K's settings: ``img_suffix='.jpg', seg_map_suffix='.png', reduce_zero_label=True,
    metainfo=dict(classes=<classes>, palette=<palette>)``.

    Args:
        out_dir (str): Folder to create; it must not exist or be empty.
        num_train (int): Number of training images. Defaults to 64.
        num_val (int): Number of validation images. Defaults to 16.
        img_size (int): Height and width of the images, at least 32. Defaults to 128.
        num_classes (int): Number of texture classes, 1 to 4. Defaults to 4.
        seed (int): Seed; the same seed writes identical files. Defaults to 0.

    Returns:
        dict: ``root`` (absolute ``out_dir``), ``classes`` (tuple of class names in label order,
        label 0 excluded), ``palette`` (tuple of RGB tuples, one per class), ``train_img_dir``,
        ``val_img_dir``, ``train_ann_dir``, ``val_ann_dir`` (absolute paths), ``num_train`` and
        ``num_val`` (image counts).
    """
    check_int('num_train', num_train, 1)
    check_int('num_val', num_val, 1)
    check_int('img_size', img_size, 32)
    check_int('num_classes', num_classes, 1, len(CORRELATION_PATTERNS))
    check_seed(seed)
    root = prepare_out_dir(out_dir)

    for split, num_images in (('train', num_train), ('val', num_val)):
        folder, prefix = ADE20K_SPLITS[split]
        os.makedirs(osp.join(root, 'images', folder))
        os.makedirs(osp.join(root, 'annotations', folder))
        for index in range(num_images):
            rng = image_rng(seed, SPLIT_CODES[split], index)
            image, label_map = make_toy_ade20k_image(rng, num_classes, img_size)
            name = f'{prefix}_{index + 1:08d}'
            # Full-resolution chroma (4:4:4): JPEG's default 4:2:0 subsampling blurs the colour
            # channels apart and scrambles the RGB correlations that make the classes.
            Image.fromarray(image).save(
                osp.join(root, 'images', folder, name + '.jpg'), quality=92, subsampling=0)
            # A 2-D uint8 array is saved as a single-channel ('L') png.
            Image.fromarray(label_map).save(osp.join(root, 'annotations', folder, name + '.png'))

    return dict(
        root=root,
        classes=tuple(name for name, _ in CORRELATION_PATTERNS[:num_classes]),
        palette=tuple(PALETTE[:num_classes]),
        train_img_dir=osp.join(root, 'images', 'training'),
        val_img_dir=osp.join(root, 'images', 'validation'),
        train_ann_dir=osp.join(root, 'annotations', 'training'),
        val_ann_dir=osp.join(root, 'annotations', 'validation'),
        num_train=num_train,
        num_val=num_val)
