# Copyright (c) mmgcp contributors. All rights reserved.
from .atomic_io import AtomicLocalBackend, log_tail, use_atomic_checkpoints
from .checkpoint_compat import load_local_checkpoint, patch_local_checkpoint_loader
from .data_check import DataNotFoundError, check_data, missing_data
from .disk_space import (
    NoSpaceForCheckpointError,
    check_space_for_checkpoint,
    estimate_checkpoint_bytes,
    exit_on_no_space,
)
from .launcher import setup_cpu_distributed
from .mim import add_mim_extension, register_config_package
from .resume import find_resumable_checkpoint, is_complete_checkpoint, resolve_resume
from .safe_checkpoint import (
    SAFE_GLOBALS,
    TRUST_ENV,
    UntrustedCheckpointError,
    add_trust_checkpoint_argument,
    check_checkpoint_trusted,
    check_config_checkpoints_trusted,
    exit_on_untrusted_checkpoint,
    load_checkpoint_file,
)
from .strict_checkpoint import CheckpointMismatchError, check_checkpoint_covers_model
from .tensorboard import apply_tensorboard_key, enable_benchmark_tensorboard, enable_tensorboard

__all__ = [
    'load_local_checkpoint', 'patch_local_checkpoint_loader', 'setup_cpu_distributed',
    'AtomicLocalBackend', 'use_atomic_checkpoints', 'log_tail', 'DataNotFoundError', 'check_data',
    'missing_data', 'find_resumable_checkpoint', 'is_complete_checkpoint', 'resolve_resume',
    'CheckpointMismatchError', 'check_checkpoint_covers_model', 'add_mim_extension',
    'register_config_package', 'apply_tensorboard_key', 'enable_benchmark_tensorboard',
    'enable_tensorboard', 'load_checkpoint_file', 'UntrustedCheckpointError', 'TRUST_ENV',
    'SAFE_GLOBALS', 'add_trust_checkpoint_argument', 'check_checkpoint_trusted',
    'check_config_checkpoints_trusted', 'exit_on_untrusted_checkpoint',
    'NoSpaceForCheckpointError', 'check_space_for_checkpoint', 'estimate_checkpoint_bytes',
    'exit_on_no_space'
]
