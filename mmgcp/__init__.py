# Copyright (c) mmgcp contributors. All rights reserved.
from .registry import DATASETS, HOOKS, MODELS, OPTIM_WRAPPERS, TRANSFORMS
from .utils import patch_local_checkpoint_loader, register_config_package
from .version import __version__, version_info

# Importing mmgcp (directly, or through ``custom_imports=dict(imports=['mmgcp'])`` in a config of
# any OpenMMLab library) makes mmengine load local checkpoints again under torch >= 2.6.
patch_local_checkpoint_loader()
# ... and resolves `_base_ = 'mmgcp::toy/...'` to the configs shipped in mmgcp/.mim.
register_config_package()

__all__ = [
    '__version__', 'version_info', 'MODELS', 'HOOKS', 'DATASETS', 'TRANSFORMS', 'OPTIM_WRAPPERS',
    'patch_local_checkpoint_loader', 'register_config_package'
]
