# Copyright (c) mmgcp contributors. All rights reserved.
"""A toy COCO-format instance segmentation set: colour textures on a low-contrast background.

The category of an object is the sign pattern of its RGB correlations -- the same statistic that
tells the toy classification classes apart (:func:`~mmgcp.datasets.toy.classification.
correlated_texture`) -- and nothing else: shape, size, orientation and the per-channel means and
variances are drawn from one distribution for all categories. Finding an object is easy (it has
much more contrast than the background); naming it needs the second-order colour statistics that
pretraining on the toy classification set teaches.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

import numpy as np
from PIL import Image, ImageDraw

from .classification import CORRELATION_PATTERNS, correlated_texture
from .textures import TEXTURE_NAMES, render_texture, to_uint8
from .utils import SPLIT_CODES, check_int, check_seed, image_rng, prepare_out_dir

#: Object shapes with their number of polygon vertices; every object draws one at random (the shape
#: is a nuisance, not the category).
SHAPES = (('disk', 32), ('square', 4), ('triangle', 3), ('pentagon', 5), ('hexagon', 6),
          ('star', 10))

#: Object size range (longest side of the bounding box) as a fraction of the image size: 32-72 px
#: at 128 px (COCO's "medium" objects; with 20-60 px the toy Mask R-CNN localised the many
#: small ones poorly within the benchmark's budget).
SIZE_RANGE = (32 / 128, 72 / 128)


def shape_polygon(rng: np.random.Generator, shape_index: int, size: float) -> np.ndarray:
    """Vertices of one randomly rotated and slightly stretched shape, centred on its box.

    Args:
        rng (np.random.Generator): Source of randomness.
        shape_index (int): Index into :data:`SHAPES`.
        size (float): Longest side of the shape's bounding box, in pixels.

    Returns:
        np.ndarray: Float array of shape ``(num_vertices, 2)`` with ``(x, y)`` rows, whose
        bounding box is centred on the origin.
    """
    name, num_vertices = SHAPES[shape_index]
    angles = rng.uniform(0, 2 * np.pi) + np.linspace(0, 2 * np.pi, num_vertices, endpoint=False)
    radii = np.ones(num_vertices)
    if name == 'star':
        radii[1::2] = 0.45
    points = np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
    # Stretch along a random axis so disks become ellipses and polygons lose their symmetry.
    stretch = rng.uniform(0.7, 1.0)
    axis_angle = rng.uniform(0, np.pi)
    rotation = np.array([[np.cos(axis_angle), -np.sin(axis_angle)],
                         [np.sin(axis_angle), np.cos(axis_angle)]])
    points = points @ rotation @ np.diag([1.0, stretch]) @ rotation.T
    low, high = points.min(axis=0), points.max(axis=0)
    return (points - (low + high) / 2) * (size / (high - low).max())


def polygon_area(polygon: np.ndarray) -> float:
    """Area of a simple polygon of shape ``(num_vertices, 2)`` by the shoelace formula."""
    x, y = polygon[:, 0], polygon[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def place_shape(rng: np.random.Generator, shape: np.ndarray, limit,
                boxes: List[np.ndarray]) -> Optional[np.ndarray]:
    """Put ``shape`` (centred on the origin) at a random place inside ``[0, limit]``, 1 px from
    the border, unless its box comes within 2 px of one of ``boxes`` (a margin, so no object hides
    part of another and masks stay exact). One ``rng.uniform`` draw either way.

    Args:
        rng (np.random.Generator): Source of randomness.
        shape (np.ndarray): ``(num_vertices, 2)`` vertices centred on their box.
        limit (float | np.ndarray): Image size, or ``(width, height)``.
        boxes (list[np.ndarray]): Boxes ``(x1, y1, x2, y2)`` already placed; the new box is
            appended when the shape is placed.

    Returns:
        np.ndarray | None: The placed polygon, rounded to 0.01 px, or None if it overlapped.
    """
    half_extent = shape.max(axis=0)
    centre = rng.uniform(half_extent + 1, limit - half_extent - 1)
    polygon = np.round(shape + centre, 2)
    box = np.concatenate([polygon.min(axis=0), polygon.max(axis=0)])
    if any((box[:2] < other[2:] + 2).all() and (other[:2] < box[2:] + 2).all()
           for other in boxes):
        return None
    boxes.append(box)
    return polygon


def _place_objects(rng: np.random.Generator, num_classes: int,
                   img_size: int) -> List[Tuple[int, np.ndarray]]:
    """Draw 1-3 non-overlapping shapes that lie inside the image."""
    num_objects = int(rng.integers(1, 4))
    boxes: List[np.ndarray] = []
    objects = []
    for _ in range(20 * num_objects):  # rejection sampling; fewer objects when the image is full
        if len(objects) == num_objects:
            break
        category = int(rng.integers(num_classes))
        shape = shape_polygon(rng, int(rng.integers(len(SHAPES))),
                              rng.uniform(*SIZE_RANGE) * img_size)
        polygon = place_shape(rng, shape, img_size, boxes)
        if polygon is not None:
            objects.append((category, polygon))
    return objects


def make_toy_coco_image(rng: np.random.Generator, num_classes: int,
                        img_size: int) -> Tuple[np.ndarray, List[Tuple[int, np.ndarray]]]:
    """Draw one image and its objects.

    Args:
        rng (np.random.Generator): Source of randomness.
        num_classes (int): Number of categories to draw from.
        img_size (int): Height and width in pixels.

    Returns:
        tuple[np.ndarray, list]: Uint8 RGB image of shape ``(img_size, img_size, 3)`` and a list
        of ``(category_index, polygon)`` with polygons of shape ``(num_vertices, 2)``.
    """
    size = (img_size, img_size)
    # Background: soft blotches over a faint texture of a random type, in colours of low contrast.
    base_colour = rng.uniform(0.1, 0.9, size=3)
    background_colours = (base_colour, np.clip(base_colour + rng.normal(0.0, 0.12, size=3), 0, 1))
    image = 0.5 * render_texture('smooth', rng, size, background_colours)
    image += 0.5 * render_texture(str(rng.choice(TEXTURE_NAMES)), rng, size, background_colours)
    objects = _place_objects(rng, num_classes, img_size)
    for category, polygon in objects:
        mask = Image.new('L', (img_size, img_size), 0)
        # PIL puts pixel centres at integers, COCO at half-integers.
        ImageDraw.Draw(mask).polygon([(x - 0.5, y - 0.5) for x, y in polygon], fill=1)
        texture = correlated_texture(rng, CORRELATION_PATTERNS[category][1], size) / 255.0
        inside = np.asarray(mask, dtype=bool)
        image[inside] = texture[inside]
    return to_uint8(image, rng), objects


def make_toy_coco(out_dir: str,
                  num_train: int = 64,
                  num_val: int = 16,
                  img_size: int = 128,
                  num_classes: int = 3,
                  seed: int = 0) -> Dict:
    """Write a toy instance segmentation set in COCO format.

    Layout::

        out_dir/
            train/000000.jpg ...
            val/000000.jpg ...
            annotations/instances_train.json
            annotations/instances_val.json

    Each image holds 1-3 non-overlapping shapes (disks, squares, triangles, ... at random), 32-72 px
    across at 128 px, on a background of a random texture in low contrast. Object ``k``'s category
    is the RGB correlation sign pattern of its texture: categories are the first ``num_classes``
    names of :data:`~mmgcp.datasets.toy.classification.CORRELATION_PATTERNS` (``'rgb-pos'``,
    ``'b-anti'``, ``'g-anti'``, ``'r-anti'``) with ids ``1..num_classes``; annotations have one
    polygon each, ``bbox`` ``[x, y, w, h]`` tight around it, its ``area`` and ``iscrowd=0``. Load
    it with mmdet's ``CocoDataset(data_root=out_dir,
    ann_file='annotations/instances_train.json', data_prefix=dict(img='train/'),
    metainfo=dict(classes=<classes>))``.

    Args:
        out_dir (str): Folder to create; it must not exist or be empty.
        num_train (int): Number of training images. Defaults to 64.
        num_val (int): Number of validation images. Defaults to 16.
        img_size (int): Height and width of the images, at least 64. Defaults to 128.
        num_classes (int): Number of categories, 1 to 4. Defaults to 3.
        seed (int): Seed; the same seed writes identical files. Defaults to 0.

    Returns:
        dict: ``root`` (absolute ``out_dir``), ``classes`` (tuple of category names in label
        order), ``train_img_dir``, ``val_img_dir``, ``train_ann_file``, ``val_ann_file``
        (absolute paths), ``num_train`` and ``num_val`` (image counts).
    """
    check_int('num_train', num_train, 1)
    check_int('num_val', num_val, 1)
    check_int('img_size', img_size, 64)
    check_int('num_classes', num_classes, 1, len(CORRELATION_PATTERNS))
    check_seed(seed)
    root = prepare_out_dir(out_dir)
    classes = tuple(name for name, _ in CORRELATION_PATTERNS[:num_classes])
    categories = [
        dict(id=label + 1, name=name, supercategory='shape') for label, name in enumerate(classes)
    ]
    os.makedirs(osp.join(root, 'annotations'))

    for split, num_images in (('train', num_train), ('val', num_val)):
        os.makedirs(osp.join(root, split))
        images, annotations = [], []
        for index in range(num_images):
            rng = image_rng(seed, SPLIT_CODES[split], index)
            image, objects = make_toy_coco_image(rng, num_classes, img_size)
            file_name = f'{index:06d}.jpg'
            # Full-resolution chroma (4:4:4): JPEG's default 4:2:0 subsampling would scramble the
            # RGB correlations that make the categories.
            Image.fromarray(image).save(osp.join(root, split, file_name), quality=92, subsampling=0)
            image_id = index + 1
            images.append(dict(id=image_id, file_name=file_name, height=img_size, width=img_size))
            for category, polygon in objects:
                x_min, y_min = polygon.min(axis=0)
                x_max, y_max = polygon.max(axis=0)
                annotations.append(
                    dict(
                        id=len(annotations) + 1,
                        image_id=image_id,
                        category_id=category + 1,
                        segmentation=[[round(float(v), 2) for v in polygon.ravel()]],
                        area=round(polygon_area(polygon), 2),
                        bbox=[round(float(v), 2)
                              for v in (x_min, y_min, x_max - x_min, y_max - y_min)],
                        iscrowd=0))
        with open(osp.join(root, 'annotations', f'instances_{split}.json'), 'w') as f:
            json.dump(
                dict(
                    info=dict(description=f'mmgcp toy COCO {split} set, seed {seed}'),
                    images=images,
                    annotations=annotations,
                    categories=categories), f)

    return dict(
        root=root,
        classes=classes,
        train_img_dir=osp.join(root, 'train'),
        val_img_dir=osp.join(root, 'val'),
        train_ann_file=osp.join(root, 'annotations', 'instances_train.json'),
        val_ann_file=osp.join(root, 'annotations', 'instances_val.json'),
        num_train=num_train,
        num_val=num_val)
