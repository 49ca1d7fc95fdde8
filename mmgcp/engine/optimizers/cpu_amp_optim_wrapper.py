# Copyright (c) mmgcp contributors. All rights reserved.
from contextlib import contextmanager
from typing import Union

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper

from mmgcp.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class CPUAmpOptimWrapper(OptimWrapper):
    """Mixed-precision training on CPU with ``torch.autocast('cpu')``.

    mmengine's ``AmpOptimWrapper`` refuses to run without a GPU. On CPU the useful low precision
    is bfloat16, whose exponent range equals float32's, so no loss scaling is needed. mmgcp's GCP
    ops keep their covariance and matrix iterations in float32 inside autocast.

    Args:
        dtype (str | torch.dtype): The autocast dtype. Defaults to ``'bfloat16'``.
        **kwargs: Arguments of :class:`mmengine.optim.OptimWrapper`.
    """

    def __init__(self, dtype: Union[str, torch.dtype] = 'bfloat16', **kwargs):
        super().__init__(**kwargs)
        if isinstance(dtype, str):
            if not hasattr(torch, dtype):
                raise ValueError(f"dtype '{dtype}' is not a torch dtype; use 'bfloat16'.")
            dtype = getattr(torch, dtype)
        self.cast_dtype = dtype

    @contextmanager
    def optim_context(self, model: nn.Module):
        with super().optim_context(model), torch.autocast('cpu', dtype=self.cast_dtype):
            yield
