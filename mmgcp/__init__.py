# Copyright (c) mmgcp contributors. All rights reserved.
"""mmgcp: global covariance pooling for OpenMMLab.

``import mmgcp.ops`` needs PyTorch alone: this file imports nothing of OpenMMLab by itself. The
registries (``mmgcp.MODELS``...) and ``patch_local_checkpoint_loader`` load on first access,
and ``mmgcp.registry`` (which every mmgcp module imports) applies the checkpoint-loader fix.
"""
import sys

from .version import __version__, version_info

_LAZY = {
    'MODELS': 'mmgcp.registry',
    'HOOKS': 'mmgcp.registry',
    'TRANSFORMS': 'mmgcp.registry',
    'OPTIM_WRAPPERS': 'mmgcp.registry',
    'patch_local_checkpoint_loader': 'mmgcp.utils',
    'register_config_package': 'mmgcp.utils',
}

# ``custom_imports=dict(imports=['mmgcp'])`` in a config of any OpenMMLab library imports mmgcp
# after mmengine: then make mmengine load local checkpoints again under torch >= 2.6 and resolve
# ``_base_ = 'mmgcp::...'`` right away (mmgcp.registry does both too, for every other way in).
if 'mmengine' in sys.modules:
    from .registry import HOOKS, MODELS, OPTIM_WRAPPERS, TRANSFORMS  # noqa: F401
    from .utils import patch_local_checkpoint_loader, register_config_package  # noqa: F401


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mmgcp' has no attribute '{name}'")


__all__ = [
    '__version__', 'version_info', 'MODELS', 'HOOKS', 'TRANSFORMS', 'OPTIM_WRAPPERS',
    'patch_local_checkpoint_loader', 'register_config_package'
]
