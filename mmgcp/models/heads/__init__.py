# Copyright (c) mmgcp contributors. All rights reserved.
# These heads subclass mmpretrain's; they are registered only where mmpretrain is installed.
from importlib.util import find_spec

__all__ = []
if find_spec('mmpretrain') is not None:
    from .dropout_linear_head import DropoutLinearClsHead
    from .token_cov_head import TokenCovClsHead
    __all__ += ['DropoutLinearClsHead', 'TokenCovClsHead']
