# Copyright (c) mmgcp contributors. All rights reserved.
"""Distributed launch helpers shared by ``tools/train.py`` and ``tools/test.py``."""
import os

import torch
import torch.distributed as dist
from mmengine.config import Config


def setup_cpu_distributed(cfg: Config, launcher: str) -> bool:
    """Let mmengine's ``pytorch`` launcher run on machines without a GPU.

    mmengine 0.10.7's launcher calls ``torch.cuda.set_device`` and gives DDP ``device_ids=[rank]``,
    both of which fail on CPU. When no GPU is present and a launcher is used, this initialises a
    gloo process group from torchrun's environment before the Runner (which then skips its own
    initialisation) and makes the model wrapper CPU-safe. On GPU machines it does nothing.

    Args:
        cfg (Config): The config to adjust in place.
        launcher (str): The ``--launcher`` argument (``'none'``, ``'pytorch'``, ``'slurm'``...).

    Returns:
        bool: True when the CPU/gloo path was set up.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return False
    if launcher != 'pytorch':
        raise ValueError(
            f"launcher '{launcher}' needs GPUs; on a machine without a GPU use "
            "'--launcher pytorch' through torchrun (tools/dist_train.sh) instead.")
    missing = [
        k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT') if k not in os.environ
    ]
    if missing:
        raise RuntimeError(
            f'--launcher pytorch expects torchrun\'s environment, but {missing} are not set; '
            'start the job with tools/dist_train.sh or `torchrun --nproc_per_node N ...`.')
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    cfg.setdefault('env_cfg', {})
    cfg.env_cfg.setdefault('dist_cfg', {})
    cfg.env_cfg.dist_cfg['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel')
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    return True
