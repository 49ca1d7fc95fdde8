# Copyright (c) mmgcp contributors. All rights reserved.
from .checkpoint_compat import load_local_checkpoint, patch_local_checkpoint_loader
from .launcher import setup_cpu_distributed

__all__ = ['load_local_checkpoint', 'patch_local_checkpoint_loader', 'setup_cpu_distributed']
