# Copyright (c) mmgcp contributors. All rights reserved.
"""Insert the ``mmgcp.Corrupt`` transform into the test pipeline of any OpenMMLab config."""
import copy
from typing import List

from .corruptions import check_corruption


def _step_name(step: dict) -> str:
    kind = step.get('type', '')
    return (kind if isinstance(kind, str) else getattr(kind, '__name__', str(kind))).split('.')[-1]


def corrupt_pipeline(pipeline: List[dict], corruption: str, severity: int,
                     seed: int = 0) -> List[dict]:
    """A copy of ``pipeline`` with ``mmgcp.Corrupt`` right after the image is loaded.

    Corrupting the decoded image before any resize is what ImageNet-C and COCO-C do.

    Args:
        pipeline (list[dict]): Transform configs; one of them loads the image
            (``LoadImageFromFile``, ``LoadImageFromNDArray``, with or without a scope).
        corruption (str): Corruption name.
        severity (int): 0 (clean) to 5.
        seed (int): Base seed of the corruption. Defaults to 0.

    Returns:
        list[dict]: The new pipeline.
    """
    check_corruption(corruption, severity)
    names = [_step_name(step) for step in pipeline]
    loads = [i for i, name in enumerate(names) if name.startswith('LoadImageFrom')]
    if not loads:
        raise ValueError(f'the test pipeline {names} has no LoadImageFrom* step to corrupt the '
                         'image after; add one (e.g. dict(type=\'LoadImageFromFile\')).')
    new = copy.deepcopy(list(pipeline))
    new.insert(loads[0] + 1, dict(type='mmgcp.Corrupt', corruption=corruption, severity=severity,
                                  seed=seed))
    return new


def corrupt_dataloader_cfg(dataloader_cfg: dict, corruption: str, severity: int,
                           seed: int = 0) -> dict:
    """A copy of a dataloader config whose dataset(s) corrupt their images.

    Wrapped datasets (``dataset=...`` of RepeatDataset and the like, ``datasets=[...]`` of
    ConcatDataset) are followed down to the ones that hold a ``pipeline``.

    Args:
        dataloader_cfg (dict): E.g. ``cfg.test_dataloader``.
        corruption (str): Corruption name.
        severity (int): 0 (clean) to 5.
        seed (int): Base seed of the corruption. Defaults to 0.

    Returns:
        dict: The new dataloader config.
    """
    new = copy.deepcopy(dataloader_cfg)
    found = []

    def visit(dataset_cfg: dict) -> None:
        if 'pipeline' in dataset_cfg:
            dataset_cfg['pipeline'] = corrupt_pipeline(dataset_cfg['pipeline'], corruption,
                                                       severity, seed)
            found.append(dataset_cfg)
        elif isinstance(dataset_cfg.get('dataset'), dict):
            visit(dataset_cfg['dataset'])
        for child in dataset_cfg.get('datasets') or []:
            visit(child)

    visit(new.get('dataset', {}))
    if not found:
        raise ValueError('the dataloader config has no dataset with a `pipeline` (looked in '
                         '`dataset`, `dataset.dataset` and `dataset.datasets`).')
    return new
