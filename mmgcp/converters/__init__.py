# Copyright (c) mmgcp contributors. All rights reserved.
"""Checkpoint converters: published GCP / DropCov / GAP checkpoints -> mmpretrain checkpoints."""
from .checkpoint_io import (
    CheckpointConversionError,
    check_against_config,
    load_source_checkpoint,
    save_checkpoint_atomic,
)
from .gcp_resnet import (
    RESNET_ARCHS,
    SOURCE_FORMATS,
    convert_checkpoint,
    convert_state_dict,
    describe,
    detect_format,
    infer_architecture,
    unwrap_state_dict,
)

__all__ = [
    'CheckpointConversionError', 'check_against_config', 'load_source_checkpoint',
    'save_checkpoint_atomic', 'RESNET_ARCHS', 'SOURCE_FORMATS', 'convert_checkpoint',
    'convert_state_dict', 'describe', 'detect_format', 'infer_architecture', 'unwrap_state_dict'
]
