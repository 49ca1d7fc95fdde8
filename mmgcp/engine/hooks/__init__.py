# Copyright (c) mmgcp contributors. All rights reserved.
from .batch_shape_hook import BATCH_SHAPE_FILE, BatchShapeHook
from .hook_config import add_hook_once
from .landscape_hook import LossLandscapeHook, probe_model_landscape
from .nonfinite_hook import (
    NonFiniteCheckHook,
    add_nonfinite_check_hook,
    check_nonfinite_records,
    nonfinite_records,
)
from .signal_checkpoint_hook import INTERRUPTED_EXIT_CODE, SignalCheckpointHook, TrainingInterrupted

__all__ = [
    'LossLandscapeHook', 'probe_model_landscape', 'NonFiniteCheckHook',
    'check_nonfinite_records', 'nonfinite_records', 'add_nonfinite_check_hook',
    'SignalCheckpointHook', 'TrainingInterrupted', 'INTERRUPTED_EXIT_CODE', 'BatchShapeHook',
    'BATCH_SHAPE_FILE', 'add_hook_once'
]
