# Copyright (c) mmgcp contributors. All rights reserved.
from .toy import make_toy_ade20k, make_toy_classification, make_toy_coco

__all__ = ['make_toy_classification', 'make_toy_coco', 'make_toy_ade20k']
