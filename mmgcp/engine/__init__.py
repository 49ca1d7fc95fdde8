# Copyright (c) mmgcp contributors. All rights reserved.
from .optimizers import CPUAmpOptimWrapper, enable_amp

__all__ = ['CPUAmpOptimWrapper', 'enable_amp']
