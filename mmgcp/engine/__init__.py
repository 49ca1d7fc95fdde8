# Copyright (c) mmgcp contributors. All rights reserved.
from .hooks import *  # noqa: F401,F403
from .optimizers import CPUAmpOptimWrapper, enable_amp

__all__ = ['CPUAmpOptimWrapper', 'enable_amp']
