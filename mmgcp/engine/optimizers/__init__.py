# Copyright (c) mmgcp contributors. All rights reserved.
from .amp import enable_amp
from .cpu_amp_optim_wrapper import CPUAmpOptimWrapper

__all__ = ['CPUAmpOptimWrapper', 'enable_amp']
