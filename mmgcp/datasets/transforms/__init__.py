# Copyright (c) mmgcp contributors. All rights reserved.
from .corrupt import Corrupt

__all__ = ['Corrupt']
