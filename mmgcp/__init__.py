# Copyright (c) mmgcp contributors. All rights reserved.
"""mmgcp: global covariance pooling for OpenMMLab.

``import mmgcp.ops`` needs PyTorch alone: where mmengine is not installed, this file imports
nothing of OpenMMLab, and the registries (``mmgcp.MODELS``...) fail only when they are used.
Where it is installed, importing mmgcp loads the registries, makes mmengine load local
checkpoints again under torch >= 2.6 (weights-only with an allowlist: no loader becomes less
safe, see ``mmgcp.utils.safe_checkpoint``) and resolves ``_base_ = 'mmgcp::...'``
(``mmgcp.registry``, which every mmgcp module imports, does the same).
"""
import importlib.util
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



def _mmengine_installed() -> bool:
    if 'mmengine' in sys.modules:
        return True
    try:
        return importlib.util.find_spec('mmengine') is not None
    except (ImportError, ValueError):  # blocked or broken: as if missing
        return False


# Also for ``import mmgcp`` before mmengine (a user's script that then parses a config inheriting
# ``mmgcp::...``) and for ``custom_imports=dict(imports=['mmgcp'])`` in OpenMMLab configs.
if _mmengine_installed():
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
