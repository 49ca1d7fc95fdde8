# Copyright (c) mmgcp contributors. All rights reserved.
"""Helpers shared by the toy dataset generators: seeding, argument checks, output folders."""
import os
import os.path as osp
from typing import Optional

import numpy as np

#: Integer codes of the splits, mixed into the per-image seeds so train and val never share images.
SPLIT_CODES = {'train': 0, 'val': 1}


def image_rng(seed: int, *keys: int) -> np.random.Generator:
    """A random generator for one image, determined by the dataset seed and the image's keys.

    Seeding each image on its own keeps an image identical when other counts change (e.g. more
    training images do not alter the validation set).

    Args:
        seed (int): Seed of the whole dataset.
        *keys (int): Non-negative integers that identify the image (split code, class, index).

    Returns:
        np.random.Generator: A fresh generator.
    """
    return np.random.default_rng([seed, *keys])


def check_int(name: str, value: int, low: int, high: Optional[int] = None) -> None:
    """Raise ``ValueError`` unless ``value`` is an integer in ``[low, high]``.

    Args:
        name (str): Argument name, for the message.
        value (int): The value given.
        low (int): Smallest allowed value.
        high (int, optional): Largest allowed value. Defaults to None (no upper bound).
    """
    valid = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    valid = valid and value >= low and (high is None or value <= high)
    if not valid:
        upper = f' and <= {high}' if high is not None else ''
        raise ValueError(f'{name} must be an integer >= {low}{upper}, but got {value!r}.')


def check_seed(seed: int) -> None:
    """Raise ``ValueError`` unless ``seed`` is a non-negative integer (numpy's requirement)."""
    check_int('seed', seed, 0)


def prepare_out_dir(out_dir: str) -> str:
    """Create ``out_dir``, refusing one that already holds files.

    Writing into a non-empty folder would mix old and new images, which folder-scanning datasets
    (mmpretrain's ``CustomDataset``, mmseg's datasets) would then load together.

    Args:
        out_dir (str): Folder to create.

    Returns:
        str: The absolute path of ``out_dir``.
    """
    out_dir = osp.abspath(out_dir)
    if osp.isdir(out_dir) and os.listdir(out_dir):
        raise FileExistsError(
            f'{out_dir} is not empty. Remove it or choose another out_dir (the command line '
            f'tools/dataset_converters/make_toy_data.py replaces it with --force).')
    os.makedirs(out_dir, exist_ok=True)
    return out_dir
