# Copyright (c) mmgcp contributors. All rights reserved.
"""Make mmengine 0.10.7 load local checkpoints under torch >= 2.6.

torch 2.6 changed the default of ``torch.load`` to ``weights_only=True``. mmengine 0.10.7 calls
``torch.load(filename, map_location=...)`` for local files, and every checkpoint the Runner writes
holds ``meta`` (message hub state, numpy values, config text) that the weights-only unpickler
rejects. That breaks ``tools/test.py``, ``--resume`` and ``init_cfg=dict(type='Pretrained')``.

:func:`patch_local_checkpoint_loader` re-registers mmengine's loader for local paths so that it
passes ``weights_only=False``, which is what mmengine was written against. Only load checkpoints
you trust: like any pickle, a checkpoint file can run code when loaded.
"""
import os.path as osp
from typing import Any, Optional

import torch
from mmengine.runner.checkpoint import CheckpointLoader

_PATCHED = False


def load_local_checkpoint(filename: str, map_location: Optional[Any] = None) -> Any:
    """Load a local checkpoint file the way mmengine did before torch 2.6.

    Args:
        filename (str): Path of the checkpoint file (``~`` is expanded).
        map_location (Any, optional): Same as :func:`torch.load`. Defaults to None.

    Returns:
        Any: The unpickled checkpoint, usually a dict with ``state_dict`` and ``meta``.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return torch.load(filename, map_location=map_location, weights_only=False)


def patch_local_checkpoint_loader() -> bool:
    """Register :func:`load_local_checkpoint` as mmengine's loader for local paths.

    Idempotent. Has no effect on torch < 2.6, where ``weights_only`` defaulted to False.

    Returns:
        bool: True when the loader is (now) patched.
    """
    global _PATCHED
    if _PATCHED:
        return True
    major, minor = (int(v) for v in torch.__version__.split('.')[:2])
    if (major, minor) < (2, 6):
        return False
    # The empty prefix is mmengine's fallback scheme for local paths.
    CheckpointLoader.register_scheme(prefixes='', loader=load_local_checkpoint, force=True)
    _PATCHED = True
    return True
