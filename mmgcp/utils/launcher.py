# Copyright (c) mmgcp contributors. All rights reserved.
"""Distributed launch helpers shared by ``tools/train.py`` and ``tools/test.py``."""
import os
import subprocess

import torch
import torch.distributed as dist
from mmengine.config import Config


def slurm_env_to_torch() -> None:
    """Set torch's rendezvous variables from the environment ``srun`` gives every task.

    Rank, world size and local rank come from ``SLURM_PROCID``, ``SLURM_NTASKS`` and
    ``SLURM_LOCALID``; the master is the first host of ``scontrol show hostnames
    $SLURM_JOB_NODELIST`` (what mmengine's slurm launcher does on GPUs); the port is
    ``MASTER_PORT`` when set, else one derived from the job id, so jobs sharing a node differ.
    """
    missing = [k for k in ('SLURM_PROCID', 'SLURM_NTASKS') if k not in os.environ]
    if missing:
        raise RuntimeError(
            f'--launcher slurm expects the environment of an srun task, but {missing} are not '
            'set; start the job with srun (e.g. `srun -n 2 python tools/train.py CONFIG '
            '--launcher slurm`).')
    nodelist = os.environ.get('SLURM_JOB_NODELIST') or os.environ.get('SLURM_NODELIST')
    if 'MASTER_ADDR' not in os.environ:
        hosts = subprocess.run(['scontrol', 'show', 'hostnames', nodelist or ''],
                               capture_output=True, text=True, check=True).stdout.split()
        os.environ['MASTER_ADDR'] = hosts[0]
    if 'MASTER_PORT' not in os.environ:
        os.environ['MASTER_PORT'] = str(20000 + int(os.environ.get('SLURM_JOB_ID', '9500')) % 20000)
    os.environ['RANK'] = os.environ['SLURM_PROCID']
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    os.environ['LOCAL_RANK'] = os.environ.get('SLURM_LOCALID', '0')


def revert_sync_bn(node) -> int:
    """Turn every ``type='SyncBN'`` in a (model) config into ``'BN'``, in place, as mmengine does
    with the modules of a non-distributed model; returns how many it changed."""
    changed = 0
    if isinstance(node, dict):
        if node.get('type') == 'SyncBN':
            node['type'] = 'BN'
            changed += 1
        for value in node.values():
            changed += revert_sync_bn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            changed += revert_sync_bn(value)
    return changed


def setup_cpu_distributed(cfg: Config, launcher: str) -> bool:
    """Let mmengine's ``pytorch`` and ``slurm`` launchers run on machines without a GPU.

    mmengine 0.10.7's launcher calls ``torch.cuda.set_device`` and gives DDP ``device_ids=[rank]``,
    both of which fail on CPU. When no GPU is present and a launcher is used, this initialises a
    gloo process group from torchrun's environment before the Runner (which then skips its own
    initialisation), makes the model wrapper CPU-safe and turns SyncBN layers into BN (SyncBN needs
    GPUs; with one process the two are the same). Under ``slurm`` the rendezvous comes from
    srun's environment (:func:`slurm_env_to_torch`). On GPU machines it does nothing.

    Args:
        cfg (Config): The config to adjust in place.
        launcher (str): The ``--launcher`` argument (``'none'``, ``'pytorch'``, ``'slurm'``...).

    Returns:
        bool: True when the CPU/gloo path was set up.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return False
    if launcher == 'slurm':
        slurm_env_to_torch()
    elif launcher != 'pytorch':
        raise ValueError(
            f"launcher '{launcher}' needs GPUs; on a machine without a GPU use "
            "'--launcher pytorch' (torchrun, tools/dist_train.sh) or '--launcher slurm' (srun).")
    missing = [
        k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT') if k not in os.environ
    ]
    if missing:
        raise RuntimeError(
            f'--launcher pytorch expects torchrun\'s environment, but {missing} are not set; '
            'start the job with tools/dist_train.sh or `torchrun --nproc_per_node N ...`.')
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    reverted = revert_sync_bn(cfg.model)
    if reverted and dist.get_rank() == 0:
        print(f'mmgcp: SyncBN needs GPUs; on this CPU run {reverted} SyncBN layer config(s) are '
              'BN (batch statistics per process, the same as SyncBN with one process)',
              flush=True)
    cfg.setdefault('env_cfg', {})
    cfg.env_cfg.setdefault('dist_cfg', {})
    cfg.env_cfg.dist_cfg['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel')
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    return True
