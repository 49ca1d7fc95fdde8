# Copyright (c) mmgcp contributors. All rights reserved.
"""Small datasets that mmgcp generates itself, in the formats of ImageNet, COCO and ADE20K."""
from .ade20k import make_toy_ade20k
from .classification import make_toy_classification
from .coco import make_toy_coco
from .writer import make_toy_set

__all__ = ['make_toy_classification', 'make_toy_coco', 'make_toy_ade20k', 'make_toy_set']
