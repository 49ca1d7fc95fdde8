# Copyright (c) mmgcp contributors. All rights reserved.
import torch
from mmengine.config import Config


def enable_amp(cfg: Config) -> Config:
    """Switch a config's optimizer wrapper to mixed precision (``tools/train.py --amp``).

    On a GPU this is mmengine's ``AmpOptimWrapper`` (fp16 with dynamic loss scaling); on CPU,
    where that wrapper refuses to run, mmgcp's ``CPUAmpOptimWrapper`` (bf16 autocast).

    Args:
        cfg (Config): The config, changed in place.

    Returns:
        Config: The same config.
    """
    if 'optim_wrapper' not in cfg:
        raise ValueError('--amp needs an `optim_wrapper` in the config.')
    if torch.cuda.is_available():
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    else:
        cfg.optim_wrapper.type = 'mmgcp.CPUAmpOptimWrapper'
        cfg.optim_wrapper.pop('loss_scale', None)
    return cfg
