# Copyright (c) mmgcp contributors. All rights reserved.
"""The task kinds mmgcp runs, and which OpenMMLab library runs each (one definition)."""
from typing import Optional

#: The library (a config's ``default_scope``) that runs each task kind.
TASK_SCOPES = {'cls': 'mmpretrain', 'det': 'mmdet', 'seg': 'mmseg'}
#: The task kinds: classification, detection (+ instance segmentation), semantic segmentation.
TASK_KINDS = tuple(TASK_SCOPES)
#: The metric reported by default for each task kind.
DEFAULT_METRICS = {'cls': 'accuracy/top1', 'det': 'coco/bbox_mAP', 'seg': 'mIoU'}


def task_kind_of_scope(scope: Optional[str]) -> Optional[str]:
    """The task kind of a config's ``default_scope`` (``'mmdet'`` -> ``'det'``), None if unknown."""
    for kind, kind_scope in TASK_SCOPES.items():
        if kind_scope == scope:
            return kind
    return None
