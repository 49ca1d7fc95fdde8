# Copyright (c) mmgcp contributors. All rights reserved.
from .dense_token_vit import DenseTokenViT

__all__ = ['DenseTokenViT']
