# Copyright (c) mmgcp contributors. All rights reserved.
# These heads subclass mmpretrain's; they are registered only where mmpretrain is installed.
from importlib.util import find_spec

__all__ = []
if find_spec('mmpretrain') is not None:
    from .dropout_linear_head import DropoutLinearClsHead
    from .element_drop_cov_head import ElementDropCovClsHead, TokenCovClsHead
    from .multi_head_cov_head import MultiHeadCovClsHead
    __all__ += ['DropoutLinearClsHead', 'ElementDropCovClsHead', 'MultiHeadCovClsHead',
                'TokenCovClsHead']
