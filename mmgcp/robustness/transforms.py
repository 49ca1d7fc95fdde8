# Copyright (c) mmgcp contributors. All rights reserved.
from typing import Optional

from mmcv.transforms import BaseTransform

from mmgcp.registry import TRANSFORMS
from mmgcp.robustness.corruptions import check_corruption, corrupt_image


@TRANSFORMS.register_module()
class Corrupt(BaseTransform):
    """Corrupt ``results['img']`` with one ImageNet-C / COCO-C corruption, deterministically.

    Put it right after ``LoadImageFromFile`` in a test pipeline of mmpretrain, mmdet or mmseg
    (:func:`mmgcp.robustness.corrupt_pipeline` does that). The random draws depend only on
    ``seed``, the image path (``img_path``, else ``sample_idx``), the corruption and the severity,
    so an image is corrupted the same way in every run and dataloader worker. Unlike mmdet's
    ``Corrupt`` it is seeded, treats mmcv's BGR images as BGR and accepts severity 0 (identity).

    Required keys: ``img`` (and ``img_path`` or ``sample_idx``). Modified keys: ``img``.

    Args:
        corruption (str): One of :data:`mmgcp.robustness.CORRUPTIONS`.
        severity (int): 0 (clean, the image is passed through) to 5.
        seed (int): Base seed. Defaults to 0.
        channel_order (str): Channel order of ``img``, ``'bgr'`` (mmcv's default) or ``'rgb'``.
    """

    def __init__(self, corruption: str, severity: int, seed: int = 0,
                 channel_order: str = 'bgr'):
        check_corruption(corruption, severity)
        self.corruption = corruption
        self.severity = severity
        self.seed = seed
        self.channel_order = channel_order

    def transform(self, results: dict) -> Optional[dict]:
        key = results.get('img_path', results.get('sample_idx'))
        results['img'] = corrupt_image(results['img'], self.corruption, self.severity, self.seed,
                                       key=key, channel_order=self.channel_order)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(corruption={self.corruption!r}, '
                f'severity={self.severity}, seed={self.seed}, '
                f'channel_order={self.channel_order!r})')
