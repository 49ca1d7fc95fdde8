# Copyright (c) mmgcp contributors. All rights reserved.
"""Tiny data sets in the exact layouts of ImageNet, COCO 2017 and ADE20K, for rehearsing the paper.

The paper preset (``configs/benchmark/paper.py``) reads the real sets at their standard paths:
mmpretrain's ``ImageNet`` (``data/imagenet``, split ``val``: ``meta/val.txt`` + ``val/``), mmdet's
``CocoDataset`` (``data/coco/``: ``annotations/instances_{train,val}2017.json``, ``train2017/``,
``val2017/``) and mmseg's ``ADE20KDataset`` (``data/ade/ADEChallengeData2016``). The writers here
make a handful of images in those layouts, at the sizes of the real sets (ImageNet 500x375, COCO
640x480, ADE20K 683x512, ...), with the real label spaces (1000 ImageNet classes, the 80 COCO
categories with their ids 1..90, the 150 ADE20K classes) so that the paper's configs, pipelines and
input sizes run unchanged.

Each set is written into a temporary folder next to its target and renamed into place with a
marker (:data:`MARKER`) that records how it was made. An existing folder is only ever replaced when
it carries that marker (or is empty): a real data set at the same path is refused, never touched.
"""
import json
import os
import os.path as osp
import shutil
import tempfile
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw

from mmgcp.converters.published_layouts import (
    check_published_arguments,
    write_published_checkpoints,
)

from .toy.coco import SHAPES, place_shape, polygon_area, shape_polygon
from .toy.textures import TEXTURE_NAMES, render_texture, smooth_noise, to_uint8
from .toy.utils import SPLIT_CODES, check_int, check_seed, image_rng

#: Written last into every folder made here; its presence marks the folder complete and ours.
MARKER = 'mmgcp_rehearsal.json'

#: Image sizes (width, height) the writers cycle through, taken from the real sets: ImageNet's
#: most common val sizes, COCO's (640 on the long side), ADE20K's (512 on the short side).
IMAGENET_SIZES = ((500, 375), (375, 500), (500, 333), (500, 500))
COCO_SIZES = ((640, 480), (640, 427), (480, 640), (500, 375))
ADE20K_SIZES = ((683, 512), (512, 683), (640, 480))

#: The 80 COCO 2017 categories: id (1..90 with gaps, as in the real annotation files), name (as
#: mmdet's ``CocoDataset`` names them) and supercategory.
COCO_CATEGORIES = (
    (1, 'person', 'person'), (2, 'bicycle', 'vehicle'), (3, 'car', 'vehicle'),
    (4, 'motorcycle', 'vehicle'), (5, 'airplane', 'vehicle'), (6, 'bus', 'vehicle'),
    (7, 'train', 'vehicle'), (8, 'truck', 'vehicle'), (9, 'boat', 'vehicle'),
    (10, 'traffic light', 'outdoor'), (11, 'fire hydrant', 'outdoor'), (13, 'stop sign', 'outdoor'),
    (14, 'parking meter', 'outdoor'), (15, 'bench', 'outdoor'), (16, 'bird', 'animal'),
    (17, 'cat', 'animal'), (18, 'dog', 'animal'), (19, 'horse', 'animal'), (20, 'sheep', 'animal'),
    (21, 'cow', 'animal'), (22, 'elephant', 'animal'), (23, 'bear', 'animal'),
    (24, 'zebra', 'animal'), (25, 'giraffe', 'animal'), (27, 'backpack', 'accessory'),
    (28, 'umbrella', 'accessory'), (31, 'handbag', 'accessory'), (32, 'tie', 'accessory'),
    (33, 'suitcase', 'accessory'), (34, 'frisbee', 'sports'), (35, 'skis', 'sports'),
    (36, 'snowboard', 'sports'), (37, 'sports ball', 'sports'), (38, 'kite', 'sports'),
    (39, 'baseball bat', 'sports'), (40, 'baseball glove', 'sports'), (41, 'skateboard', 'sports'),
    (42, 'surfboard', 'sports'), (43, 'tennis racket', 'sports'), (44, 'bottle', 'kitchen'),
    (46, 'wine glass', 'kitchen'), (47, 'cup', 'kitchen'), (48, 'fork', 'kitchen'),
    (49, 'knife', 'kitchen'), (50, 'spoon', 'kitchen'), (51, 'bowl', 'kitchen'),
    (52, 'banana', 'food'), (53, 'apple', 'food'), (54, 'sandwich', 'food'),
    (55, 'orange', 'food'), (56, 'broccoli', 'food'), (57, 'carrot', 'food'),
    (58, 'hot dog', 'food'), (59, 'pizza', 'food'), (60, 'donut', 'food'), (61, 'cake', 'food'),
    (62, 'chair', 'furniture'), (63, 'couch', 'furniture'), (64, 'potted plant', 'furniture'),
    (65, 'bed', 'furniture'), (67, 'dining table', 'furniture'), (70, 'toilet', 'furniture'),
    (72, 'tv', 'electronic'), (73, 'laptop', 'electronic'), (74, 'mouse', 'electronic'),
    (75, 'remote', 'electronic'), (76, 'keyboard', 'electronic'), (77, 'cell phone', 'electronic'),
    (78, 'microwave', 'appliance'), (79, 'oven', 'appliance'), (80, 'toaster', 'appliance'),
    (81, 'sink', 'appliance'), (82, 'refrigerator', 'appliance'), (84, 'book', 'indoor'),
    (85, 'clock', 'indoor'), (86, 'vase', 'indoor'), (87, 'scissors', 'indoor'),
    (88, 'teddy bear', 'indoor'), (89, 'hair drier', 'indoor'), (90, 'toothbrush', 'indoor'))

#: Longest side of a COCO object's box in pixels: small (area < 32^2), medium, large (> 96^2).
COCO_OBJECT_SIDES = {'small': (12, 28), 'medium': (45, 90), 'large': (140, 300)}
IMAGENET_NUM_CLASSES = 1000
#: ADE20K's label maps: 0 is "other" (ignored with ``reduce_zero_label=True``), 1..150 the classes.
ADE20K_NUM_CLASSES = 150
#: Largest COCO image id (val2017 and train2017 ids lie below it).
COCO_MAX_IMAGE_ID = 581929
#: JPEG quality of the written images (the real sets are ordinary 4:2:0 JPEGs).
JPEG_QUALITY = 90


class ForeignFolderError(FileExistsError):
    """A folder the rehearsal would write exists and was not written by it."""


# ---------------------------------------------------------------------------------------------
# Writing a folder atomically, and only over a folder written here
# ---------------------------------------------------------------------------------------------
def read_marker(folder: str) -> Dict:
    """The marker of a folder written here, or ``{}`` when it has none (or an unreadable one)."""
    try:
        with open(osp.join(folder, MARKER)) as f:
            marker = json.load(f)
    except (OSError, ValueError):
        return {}
    return marker if isinstance(marker, dict) else {}


def _refuse_foreign(target: str) -> None:
    """Raise unless ``target`` is absent, an empty folder or a folder with :data:`MARKER`."""
    if osp.islink(target):
        raise ForeignFolderError(
            f'{target} is a symbolic link (to {os.readlink(target)}); the rehearsal writes its own '
            'tiny data there and never writes through a link, which may lead to a real data set. '
            'Choose another root folder.')
    if not osp.lexists(target):
        return
    if not osp.isdir(target):
        raise ForeignFolderError(f'{target} exists and is not a folder; the rehearsal would write '
                                 'a folder there. Move it away or choose another root folder.')
    if os.listdir(target) and not read_marker(target):
        raise ForeignFolderError(
            f'{target} exists and was not written by the rehearsal (it has no {MARKER}); it may '
            'be a real data set or your own files, so it is left untouched. Move it away, or '
            'choose another root folder.')


def write_owned_folder(target: str, record: Dict,
                       fill: Callable[[str], Optional[Dict]]) -> str:
    """Write a folder atomically, over nothing but a folder written here.

    ``fill`` writes the contents into a temporary folder next to ``target``; :data:`MARKER` with
    ``record`` (and what ``fill`` returned, as ``contents``) is added last and the folder is
    renamed into place. A folder already at ``target`` whose marker holds ``record`` is kept as
    it is; one with another record (or an empty one) is replaced; anything else is refused before
    any work.

    Args:
        target (str): The folder to write.
        record (dict): What the folder is made from (writer and parameters, JSON-serialisable).
        fill (Callable[[str], dict | None]): Writes the contents into the folder it is given;
            may return a JSON-serialisable description of them, kept in the marker.

    Returns:
        str: ``'written'``, ``'replaced'`` or ``'skipped'`` (an identical folder was there).

    Raises:
        ForeignFolderError: ``target`` is a link, a file, or a non-empty folder without a marker.
    """
    target = osp.abspath(target)
    _refuse_foreign(target)
    if read_marker(target).get('record') == record:
        return 'skipped'
    parent = osp.dirname(target)
    os.makedirs(parent, exist_ok=True)
    tmp_dir = tempfile.mkdtemp(prefix=f'.{osp.basename(target)}.tmp-', dir=parent)
    os.chmod(tmp_dir, 0o755)  # mkdtemp makes it private; a data set reads like any folder
    try:
        contents = fill(tmp_dir)
        with open(osp.join(tmp_dir, MARKER), 'w') as f:
            json.dump(dict(writer='mmgcp.datasets.paper_layout', record=record,
                           contents=contents), f, indent=2)
        # Checked again right before the swap: whatever is there now must still be ours, and
        # a concurrent writer may have put the same folder in place meanwhile.
        _refuse_foreign(target)
        status = 'written'
        if read_marker(target).get('record') == record:
            shutil.rmtree(tmp_dir)
            status = 'skipped'
        elif osp.lexists(target):
            status = 'replaced'
            old_dir = tempfile.mkdtemp(prefix=f'.{osp.basename(target)}.old-', dir=parent)
            os.replace(target, osp.join(old_dir, 'old'))
            os.replace(tmp_dir, target)
            shutil.rmtree(old_dir)
        else:
            try:
                os.replace(tmp_dir, target)
            except OSError:
                # Another writer finished first; its folder is as good as ours if identical.
                if read_marker(target).get('record') != record:
                    raise
                shutil.rmtree(tmp_dir)
                status = 'skipped'
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    return status


# ---------------------------------------------------------------------------------------------
# Pictures: shapes filled with textures on a textured background
# ---------------------------------------------------------------------------------------------
def textured_background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Soft blotches over a faint texture, in two colours of low contrast.

    Args:
        rng (np.random.Generator): Source of randomness.
        width (int): Image width in pixels.
        height (int): Image height in pixels.

    Returns:
        np.ndarray: Float32 image of shape ``(height, width, 3)`` in ``[0, 1]``.
    """
    base = rng.uniform(0.15, 0.85, size=3)
    colours = (base, np.clip(base + rng.normal(0.0, 0.15, size=3), 0.0, 1.0))
    image = 0.5 * render_texture('smooth', rng, (height, width), colours)
    image += 0.5 * render_texture(str(rng.choice(TEXTURE_NAMES)), rng, (height, width), colours)
    return image


def paint_polygon(image: np.ndarray, polygon: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Fill a polygon of ``image`` (in place) with a random texture in two contrasting colours.

    Args:
        image (np.ndarray): Float image of shape ``(height, width, 3)``.
        polygon (np.ndarray): ``(num_vertices, 2)`` vertices ``(x, y)`` in COCO's pixel
            coordinates (pixel centres at half-integers).
        rng (np.random.Generator): Source of randomness.

    Returns:
        np.ndarray: Boolean mask of shape ``(height, width)``: the painted pixels.
    """
    height, width = image.shape[:2]
    mask = Image.new('L', (width, height), 0)
    # PIL puts pixel centres at integers, COCO at half-integers.
    ImageDraw.Draw(mask).polygon([(x - 0.5, y - 0.5) for x, y in polygon], fill=1)
    inside = np.asarray(mask, dtype=bool)
    texture = render_texture(str(rng.choice(TEXTURE_NAMES)), rng, (height, width))
    image[inside] = texture[inside]
    return inside


def place_polygons(rng: np.random.Generator, width: int, height: int,
                   sides: Sequence[float]) -> List[np.ndarray]:
    """Random shapes of the given sizes at places where their boxes do not touch.

    Args:
        rng (np.random.Generator): Source of randomness.
        width (int): Image width in pixels.
        height (int): Image height in pixels.
        sides (Sequence[float]): Longest box side of each shape, in pixels, placed in this order
            (a shape that finds no free place in 30 tries is left out).

    Returns:
        list[np.ndarray]: ``(num_vertices, 2)`` polygons ``(x, y)``, rounded to 0.01 px.
    """
    boxes: List[np.ndarray] = []
    polygons = []
    for side in sides:
        side = min(side, min(width, height) - 4)
        for _ in range(30):
            shape = shape_polygon(rng, int(rng.integers(len(SHAPES))), side)
            polygon = place_shape(rng, shape, np.array([width, height]), boxes)
            if polygon is not None:
                polygons.append(polygon)
                break
    return polygons


def save_jpeg(image: np.ndarray, path: str) -> None:
    """Save a uint8 RGB image as an ordinary (4:2:0) JPEG, as the real sets are stored."""
    Image.fromarray(image).save(path, quality=JPEG_QUALITY)


# ---------------------------------------------------------------------------------------------
# ImageNet
# ---------------------------------------------------------------------------------------------
def _fill_imagenet(folder: str, num_val: int, seed: int) -> None:
    os.makedirs(osp.join(folder, 'val'))
    os.makedirs(osp.join(folder, 'meta'))
    lines = []
    for index in range(num_val):
        rng = image_rng(seed, SPLIT_CODES['val'], index)
        width, height = IMAGENET_SIZES[index % len(IMAGENET_SIZES)]
        image = textured_background(rng, width, height)
        # One object filling much of the frame, as an ImageNet photo centres its subject.
        side = rng.uniform(0.5, 0.8) * min(width, height)
        for polygon in place_polygons(rng, width, height, [side]):
            paint_polygon(image, polygon, rng)
        file_name = f'ILSVRC2012_val_{index + 1:08d}.JPEG'
        save_jpeg(to_uint8(image, rng), osp.join(folder, 'val', file_name))
        lines.append(f'{file_name} {int(rng.integers(IMAGENET_NUM_CLASSES))}\n')
    with open(osp.join(folder, 'meta', 'val.txt'), 'w') as f:
        f.writelines(lines)


def write_imagenet(out_dir: str, num_val: int = 8, seed: int = 0) -> Dict:
    """Write a tiny ImageNet validation set in mmpretrain's ``ImageNet`` layout.

    Layout (what ``ImageNet(data_root=out_dir, split='val')`` reads)::

        out_dir/
            val/ILSVRC2012_val_00000001.JPEG ...
            meta/val.txt        # "ILSVRC2012_val_00000001.JPEG 65" per line, labels 0..999

    No ``train/``: the paper preset only evaluates the published classifiers on ImageNet (the
    benchmark checks the ``test`` split of evaluate-only runs). Images are 500x375, 375x500,
    500x333 and 500x500 in turn: one textured shape on a textured background.

    Args:
        out_dir (str): The set's folder (``<root>/data/imagenet``).
        num_val (int): Number of validation images. Defaults to 8.
        seed (int): Seed; the same seed writes the same images and labels. Defaults to 0.

    Returns:
        dict: ``status`` (see :func:`write_owned_folder`), ``data_root`` (absolute
        ``out_dir``), ``ann_file``, ``img_dir`` and ``num_val``.
    """
    check_int('num_val', num_val, 1)
    check_seed(seed)
    params = dict(num_val=num_val, seed=seed)
    status = write_owned_folder(out_dir, dict(set='imagenet', **params),
                                lambda folder: _fill_imagenet(folder, **params))
    root = osp.abspath(out_dir)
    return dict(status=status, data_root=root, ann_file=osp.join(root, 'meta', 'val.txt'),
                img_dir=osp.join(root, 'val'), **params)


# ---------------------------------------------------------------------------------------------
# COCO
# ---------------------------------------------------------------------------------------------
def coco_object_sides(rng: np.random.Generator) -> List[float]:
    """Box sides of one image's 3-5 objects: one large, one medium, one small, then any size."""
    bands = ['large', 'medium', 'small']
    bands += [str(rng.choice(list(COCO_OBJECT_SIDES))) for _ in range(int(rng.integers(0, 3)))]
    return [float(rng.uniform(*COCO_OBJECT_SIDES[band])) for band in bands]


def _coco_split(folder: str, split: str, num_images: int, seed: int) -> Dict:
    """Write ``<split>2017/*.jpg`` and return the split's annotation dict."""
    img_folder = osp.join(folder, f'{split}2017')
    os.makedirs(img_folder)
    # Real COCO ids are sparse numbers up to 581929; train and val draw from disjoint halves.
    id_rng = image_rng(seed, SPLIT_CODES[split], 1 << 20)
    low = 1 if split == 'train' else COCO_MAX_IMAGE_ID // 2
    image_ids = low + id_rng.choice(COCO_MAX_IMAGE_ID // 2 - 1, size=num_images, replace=False)
    images, annotations = [], []
    for index, image_id in enumerate(image_ids.tolist()):
        rng = image_rng(seed, SPLIT_CODES[split], index)
        width, height = COCO_SIZES[index % len(COCO_SIZES)]
        image = textured_background(rng, width, height)
        file_name = f'{image_id:012d}.jpg'
        for polygon in place_polygons(rng, width, height, coco_object_sides(rng)):
            paint_polygon(image, polygon, rng)
            x_min, y_min = polygon.min(axis=0)
            x_max, y_max = polygon.max(axis=0)
            annotations.append(dict(
                segmentation=[[round(float(v), 2) for v in polygon.ravel()]],
                area=round(polygon_area(polygon), 2),
                iscrowd=0,
                image_id=image_id,
                bbox=[round(float(v), 2) for v in (x_min, y_min, x_max - x_min, y_max - y_min)],
                category_id=int(COCO_CATEGORIES[int(rng.integers(len(COCO_CATEGORIES)))][0]),
                id=len(annotations) + 1))
        save_jpeg(to_uint8(image, rng), osp.join(img_folder, file_name))
        images.append(dict(license=1, file_name=file_name, height=height, width=width,
                           date_captured='2013-11-14 17:02:52', id=image_id))
    return dict(
        info=dict(description=f'mmgcp paper rehearsal: COCO 2017 {split} layout, seed {seed}',
                  version='1.0', year=2017, contributor='mmgcp', date_created='2017/09/01'),
        licenses=[dict(url='https://creativecommons.org/licenses/by/2.0/', id=1,
                       name='Attribution License')],
        images=images,
        annotations=annotations,
        categories=[dict(supercategory=sup, id=cat_id, name=name)
                    for cat_id, name, sup in COCO_CATEGORIES])


def _fill_coco(folder: str, num_train: int, num_val: int, seed: int) -> None:
    os.makedirs(osp.join(folder, 'annotations'))
    for split, num_images in (('train', num_train), ('val', num_val)):
        annotations = _coco_split(folder, split, num_images, seed)
        with open(osp.join(folder, 'annotations', f'instances_{split}2017.json'), 'w') as f:
            json.dump(annotations, f)


def write_coco(out_dir: str, num_train: int = 4, num_val: int = 2, seed: int = 0) -> Dict:
    """Write a tiny COCO 2017 instance segmentation set in the layout mmdet's configs read.

    Layout (``data_root='data/coco/'`` of mmdet's ``coco_instance.py`` / ``coco_detection.py``)::

        out_dir/
            annotations/instances_train2017.json
            annotations/instances_val2017.json
            train2017/000000xxxxxx.jpg ...   # 12-digit image id, as in COCO
            val2017/000000xxxxxx.jpg ...

    The annotation files have COCO's sections (``info``, ``licenses``, ``images``,
    ``annotations``, ``categories``) and its 80 categories with their real ids (1..90 with gaps)
    and names. Images are 640x480, 640x427, 480x640 and 500x375 in turn, each with 3-5 textured
    shapes on a textured background: one large (box side 140-300 px), one medium (45-90 px), one
    small (12-28 px), the rest of any of these sizes, boxes apart. Each shape is one annotation:
    a polygon ``segmentation``, its tight ``bbox`` ``[x, y, w, h]``, its ``area`` and
    ``iscrowd=0``; categories are drawn at random.

    Args:
        out_dir (str): The set's folder (``<root>/data/coco``).
        num_train (int): Number of training images. Defaults to 4.
        num_val (int): Number of validation images. Defaults to 2.
        seed (int): Seed; the same seed writes the same images and annotations. Defaults to 0.

    Returns:
        dict: ``status`` (see :func:`write_owned_folder`), ``data_root`` (absolute ``out_dir``
        with a trailing ``/``, as mmdet's configs write it), ``train_ann_file``,
        ``val_ann_file``, ``num_train`` and ``num_val``.
    """
    check_int('num_train', num_train, 1)
    check_int('num_val', num_val, 1)
    check_seed(seed)
    params = dict(num_train=num_train, num_val=num_val, seed=seed)
    status = write_owned_folder(out_dir, dict(set='coco', **params),
                                lambda folder: _fill_coco(folder, **params))
    root = osp.abspath(out_dir)
    return dict(status=status, data_root=root + os.sep,
                train_ann_file=osp.join(root, 'annotations', 'instances_train2017.json'),
                val_ann_file=osp.join(root, 'annotations', 'instances_val2017.json'), **params)


# ---------------------------------------------------------------------------------------------
# ADE20K
# ---------------------------------------------------------------------------------------------
def _wavy_offsets(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Smooth noise (blotches about 1/8 of the short side) of shape ``(height, width)``: drawn at a
    quarter of the resolution and upsampled, since full-size FFTs of ADE20K's 683 px (a prime)
    take a second per image."""
    small = (-(-height // 4), -(-width // 4))
    noise = smooth_noise(rng, small, min(small) / 8)
    return np.asarray(Image.fromarray(noise).resize((width, height), Image.BILINEAR))


def make_ade20k_image(rng: np.random.Generator, width: int,
                      height: int) -> Tuple[np.ndarray, np.ndarray]:
    """Draw one scene and its label map.

    The scene is cut into 4-8 regions with wavy borders (a Voronoi diagram of noisy distances),
    each a texture of its own class (one region may be "other", label 0), with 1-3 shapes of yet
    other classes on top.

    Args:
        rng (np.random.Generator): Source of randomness.
        width (int): Image width in pixels.
        height (int): Image height in pixels.

    Returns:
        tuple[np.ndarray, np.ndarray]: Uint8 RGB image of shape ``(height, width, 3)`` and uint8
        label map of shape ``(height, width)`` with values in ``0..150``.
    """
    size = (height, width)
    num_regions = int(rng.integers(4, 9))
    num_shapes = int(rng.integers(1, 4))
    labels = 1 + rng.choice(ADE20K_NUM_CLASSES, size=num_regions + num_shapes, replace=False)
    if rng.uniform() < 0.3:
        labels[0] = 0  # some of the scene is "other", as in ADE20K
    centres = rng.uniform((0, 0), (width, height), size=(num_regions, 2))
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    distances = np.stack([
        np.hypot(xs - cx, ys - cy) + min(size) / 12 * _wavy_offsets(rng, width, height)
        for cx, cy in centres
    ])
    region_map = distances.argmin(axis=0)
    label_map = labels[:num_regions][region_map].astype(np.uint8)
    image = np.zeros((*size, 3), dtype=np.float32)
    for region in range(num_regions):
        texture = render_texture(str(rng.choice(TEXTURE_NAMES)), rng, size)
        inside = region_map == region
        image[inside] = texture[inside]
    sides = rng.uniform(0.15, 0.4, size=num_shapes) * min(size)
    for label, polygon in zip(labels[num_regions:], place_polygons(rng, width, height, sides)):
        label_map[paint_polygon(image, polygon, rng)] = label
    return to_uint8(image, rng), label_map


def _fill_ade20k(folder: str, num_train: int, num_val: int, seed: int) -> None:
    root = osp.join(folder, 'ADEChallengeData2016')
    for split, num_images in (('train', num_train), ('val', num_val)):
        split_folder = 'training' if split == 'train' else 'validation'
        os.makedirs(osp.join(root, 'images', split_folder))
        os.makedirs(osp.join(root, 'annotations', split_folder))
        for index in range(num_images):
            rng = image_rng(seed, SPLIT_CODES[split], index)
            width, height = ADE20K_SIZES[index % len(ADE20K_SIZES)]
            image, label_map = make_ade20k_image(rng, width, height)
            name = f'ADE_{split}_{index + 1:08d}'
            save_jpeg(image, osp.join(root, 'images', split_folder, name + '.jpg'))
            # A 2-D uint8 array is saved as a single-channel ('L') png, as ADE20K's label maps.
            Image.fromarray(label_map).save(osp.join(root, 'annotations', split_folder,
                                                     name + '.png'))


def write_ade20k(out_dir: str, num_train: int = 4, num_val: int = 2, seed: int = 0) -> Dict:
    """Write a tiny ADE20K (SceneParsing 2016) set in the layout mmseg's configs read.

    Layout (``data_root='data/ade/ADEChallengeData2016'`` of mmseg's ``ade20k.py``)::

        out_dir/ADEChallengeData2016/
            images/training/ADE_train_00000001.jpg ...
            images/validation/ADE_val_00000001.jpg ...
            annotations/training/ADE_train_00000001.png ...
            annotations/validation/ADE_val_00000001.png ...

    Label maps are single-channel uint8 pngs as in ADE20K: 0 is "other" (ignored under
    ``reduce_zero_label=True``), 1..150 the classes. Images are 683x512, 512x683 and 640x480 in
    turn: 4-8 textured regions of distinct classes with wavy borders and 1-3 shapes of other
    classes on top (see :func:`make_ade20k_image`).

    Args:
        out_dir (str): The set's folder (``<root>/data/ade``); the files go to its
            ``ADEChallengeData2016`` as the official zip unpacks.
        num_train (int): Number of training images. Defaults to 4.
        num_val (int): Number of validation images. Defaults to 2.
        seed (int): Seed; the same seed writes the same images and labels. Defaults to 0.

    Returns:
        dict: ``status`` (see :func:`write_owned_folder`), ``data_root`` (absolute
        ``out_dir/ADEChallengeData2016``), ``num_train`` and ``num_val``.
    """
    check_int('num_train', num_train, 1)
    check_int('num_val', num_val, 1)
    check_seed(seed)
    params = dict(num_train=num_train, num_val=num_val, seed=seed)
    status = write_owned_folder(out_dir, dict(set='ade20k', **params),
                                lambda folder: _fill_ade20k(folder, **params))
    return dict(status=status,
                data_root=osp.join(osp.abspath(out_dir), 'ADEChallengeData2016'), **params)


# ---------------------------------------------------------------------------------------------
# Everything the paper rehearsal reads
# ---------------------------------------------------------------------------------------------
def write_published(out_dir: str, depth: int = 50, reduced_channels: int = 256,
                    num_classes: int = 1000, seed: int = 0) -> Dict:
    """Write one random-weight checkpoint per published layout into ``out_dir``, atomically.

    See :func:`mmgcp.converters.published_layouts.write_published_checkpoints` for the files.

    Args:
        out_dir (str): The folder (``<root>/published``); only a folder written here is replaced.
        depth (int): ResNet depth. Defaults to 50.
        reduced_channels (int): Width of the GCP / DropCov reduction. Defaults to 256.
        num_classes (int): Classifier outputs. Defaults to 1000.
        seed (int): Seed. Defaults to 0.

    Returns:
        dict: ``status`` (see :func:`write_owned_folder`) and ``checkpoints``: layout -> ``path``
        (absolute), ``layout``, ``variant``, ``source_format``, ``sha256``, ``size``.
    """
    params = dict(depth=depth, reduced_channels=reduced_channels, num_classes=num_classes,
                  seed=seed)

    def fill(folder: str) -> Dict:
        written = write_published_checkpoints(folder, **params)
        # Paths relative to the folder, which is renamed into place after this.
        return {layout: dict(info, path=osp.relpath(info['path'], folder))
                for layout, info in written.items()}

    root = osp.abspath(out_dir)
    status = write_owned_folder(root, dict(set='published', **params), fill)
    checkpoints = {layout: dict(info, path=osp.join(root, info['path']))
                   for layout, info in read_marker(root)['contents'].items()}
    return dict(status=status, checkpoints=checkpoints)


def make_paper_rehearsal(root: str, num_imagenet_val: int = 8, num_coco_train: int = 4,
                         num_coco_val: int = 2, num_ade_train: int = 4, num_ade_val: int = 2,
                         depth: int = 50, reduced_channels: int = 256, num_classes: int = 1000,
                         seed: int = 0) -> Dict:
    """Write the inputs of the paper rehearsal: tiny data sets and published-layout checkpoints.

    Layout::

        root/data/imagenet/   {val/*.JPEG, meta/val.txt}          (:func:`write_imagenet`)
        root/data/coco/       {annotations, train2017, val2017}   (:func:`write_coco`)
        root/data/ade/ADEChallengeData2016/{images,annotations}/{training,validation}
                                                                  (:func:`write_ade20k`)
        root/published/       one checkpoint per layout           (:func:`write_published`)

    Every argument is checked before anything is written. Each folder is written atomically and
    kept when an identical one is there (a second call costs nothing); a folder at one of these
    paths that this function did not write is refused (:class:`ForeignFolderError`).

    Args:
        root (str): The rehearsal's folder.
        num_imagenet_val (int): ImageNet validation images. Defaults to 8.
        num_coco_train (int): COCO training images. Defaults to 4.
        num_coco_val (int): COCO validation images. Defaults to 2.
        num_ade_train (int): ADE20K training images. Defaults to 4.
        num_ade_val (int): ADE20K validation images. Defaults to 2.
        depth (int): ResNet depth of the checkpoints. Defaults to 50.
        reduced_channels (int): GCP / DropCov reduction width. Defaults to 256.
        num_classes (int): Classifier outputs of the checkpoints. Defaults to 1000.
        seed (int): Seed of every image and weight. Defaults to 0.

    Returns:
        dict: ``imagenet``, ``coco``, ``ade`` (what their writers return) and ``published``
        (what :func:`write_published` returns).
    """
    for name, value in (('num_imagenet_val', num_imagenet_val),
                        ('num_coco_train', num_coco_train), ('num_coco_val', num_coco_val),
                        ('num_ade_train', num_ade_train), ('num_ade_val', num_ade_val)):
        check_int(name, value, 1)
    check_seed(seed)
    check_published_arguments(depth, reduced_channels, num_classes)
    data_dir = osp.join(root, 'data')
    return dict(
        imagenet=write_imagenet(osp.join(data_dir, 'imagenet'), num_imagenet_val, seed),
        coco=write_coco(osp.join(data_dir, 'coco'), num_coco_train, num_coco_val, seed),
        ade=write_ade20k(osp.join(data_dir, 'ade'), num_ade_train, num_ade_val, seed),
        published=write_published(osp.join(root, 'published'), depth, reduced_channels,
                                  num_classes, seed))


def format_rehearsal(written: Dict) -> str:
    """What :func:`make_paper_rehearsal` wrote, in lines for a terminal."""
    imagenet, coco, ade = written['imagenet'], written['coco'], written['ade']
    lines = [
        f"ImageNet ({imagenet['status']}): {imagenet['num_val']} val images "
        f"({', '.join('x'.join(map(str, s)) for s in IMAGENET_SIZES)}), data_root "
        f"{imagenet['data_root']}",
        f"COCO 2017 ({coco['status']}): {coco['num_train']} train / {coco['num_val']} val images "
        f"({', '.join('x'.join(map(str, s)) for s in COCO_SIZES)}), 80 categories, data_root "
        f"{coco['data_root']}",
        f"ADE20K ({ade['status']}): {ade['num_train']} train / {ade['num_val']} val images "
        f"({', '.join('x'.join(map(str, s)) for s in ADE20K_SIZES)}), 150 classes, data_root "
        f"{ade['data_root']}",
        f"Published checkpoints ({written['published']['status']}):",
    ]
    for layout, info in written['published']['checkpoints'].items():
        lines.append(f"  {layout:<12} variant {info['variant']:<8} --format "
                     f"{info['source_format']:<12} {info['size'] / 2**20:6.1f} MiB  {info['path']}")
    lines.append('Convert each as the README does, e.g. python tools/model_converters/'
                 'gcp2mmpretrain.py SRC checkpoints/resnet50-<variant>_8xb32_in1k.pth')
    return '\n'.join(lines)
