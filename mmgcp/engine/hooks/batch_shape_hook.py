# Copyright (c) mmgcp contributors. All rights reserved.
"""Record what the model received in its first training step: the batch after the data
preprocessor (``N x C x H x W``, padded) and each image's own shape.

A transfer comparison is only fair at the recipe's input size (Mask R-CNN 1333 x 800, UperNet
512 x 512, ImageNet 224); a pipeline override that shrinks it trains silently. The hook logs one
line and writes ``<work_dir>/batch_shape.json`` (``tools/train.py`` adds it), so a user -- and
the benchmark's report -- can see the size each run really trained at.
"""
import json
import os.path as osp

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmgcp.registry import HOOKS

BATCH_SHAPE_FILE = 'batch_shape.json'


def _shape(value):
    return list(value.shape) if hasattr(value, 'shape') else None


@HOOKS.register_module()
class BatchShapeHook(Hook):
    """Log and save the shape of the first training batch the model receives."""

    priority = 'VERY_LOW'

    def __init__(self):
        self._handle = None

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model

        def record(module, args, kwargs):
            inputs = kwargs.get('inputs', args[0] if args else None)
            samples = kwargs.get('data_samples', args[1] if len(args) > 1 else None) or []
            shapes = [list(s.metainfo.get('img_shape', ())) for s in samples
                      if hasattr(s, 'metainfo')]
            record = dict(inputs=_shape(inputs) if not isinstance(inputs, (list, tuple))
                          else [_shape(x) for x in inputs],
                          img_shapes=shapes, iteration=runner.iter)
            if runner.rank == 0:
                with open(osp.join(runner.work_dir, BATCH_SHAPE_FILE), 'w') as f:
                    json.dump(record, f)
            runner.logger.info(f"first training batch: inputs {record['inputs']}, image shapes "
                               f"{shapes}")
            self._handle.remove()
            self._handle = None

        self._handle = model.register_forward_pre_hook(record, with_kwargs=True)

    def after_train(self, runner) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
