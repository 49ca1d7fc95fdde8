# Copyright (c) mmgcp contributors. All rights reserved.
# These decode heads subclass mmseg's; they are registered only where mmseg is installed.
from importlib.util import find_spec

__all__ = []
if find_spec('mmseg') is not None:
    from .cov_uper_head import CovUPerHead
    __all__ += ['CovUPerHead']
