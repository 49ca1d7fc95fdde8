# Copyright (c) mmgcp contributors. All rights reserved.
from .landscape_hook import LossLandscapeHook, probe_model_landscape
from .nonfinite_hook import (
    NonFiniteCheckHook,
    add_nonfinite_check_hook,
    check_nonfinite_records,
    nonfinite_records,
)

__all__ = [
    'LossLandscapeHook', 'probe_model_landscape', 'NonFiniteCheckHook',
    'check_nonfinite_records', 'nonfinite_records', 'add_nonfinite_check_hook'
]
