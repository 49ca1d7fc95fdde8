# Copyright (c) mmgcp contributors. All rights reserved.
from .registry import HOOKS, MODELS, OPTIM_WRAPPERS, TRANSFORMS
from .utils import patch_local_checkpoint_loader
from .version import __version__, version_info

# Importing mmgcp (directly, or through ``custom_imports=dict(imports=['mmgcp'])`` in a config of
# any OpenMMLab library) makes mmengine load local checkpoints again under torch >= 2.6.
patch_local_checkpoint_loader()

__all__ = [
    '__version__', 'version_info', 'MODELS', 'HOOKS', 'TRANSFORMS', 'OPTIM_WRAPPERS',
    'patch_local_checkpoint_loader'
]
