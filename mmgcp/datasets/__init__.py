# Copyright (c) mmgcp contributors. All rights reserved.
from . import transforms  # noqa: F401  registers mmgcp.Corrupt
from .toy import make_toy_ade20k, make_toy_classification, make_toy_coco

__all__ = ['make_toy_classification', 'make_toy_coco', 'make_toy_ade20k']
