# Copyright (c) mmgcp contributors. All rights reserved.
from .checkpoint_compat import load_local_checkpoint, patch_local_checkpoint_loader
from .launcher import setup_cpu_distributed
from .mim import add_mim_extension, register_config_package
from .tensorboard import apply_tensorboard_key, enable_benchmark_tensorboard, enable_tensorboard

__all__ = ['load_local_checkpoint', 'patch_local_checkpoint_loader', 'setup_cpu_distributed',
           'add_mim_extension', 'register_config_package', 'apply_tensorboard_key',
           'enable_benchmark_tensorboard', 'enable_tensorboard']
