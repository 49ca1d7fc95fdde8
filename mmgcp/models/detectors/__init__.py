# Copyright (c) mmgcp contributors. All rights reserved.
# These detectors subclass mmdet's; they are registered only where mmdet is installed.
from importlib.util import find_spec

__all__ = []
if find_spec('mmdet') is not None:
    from .padding_aware import PaddingAwareFasterRCNN, PaddingAwareMaskRCNN, PaddingAwareMixin
    __all__ += ['PaddingAwareMixin', 'PaddingAwareMaskRCNN', 'PaddingAwareFasterRCNN']
