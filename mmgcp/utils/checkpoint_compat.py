# Copyright (c) mmgcp contributors. All rights reserved.
"""Make mmengine 0.10.7 load local checkpoints under torch >= 2.6, without running code from them.

torch 2.6 changed the default of ``torch.load`` to ``weights_only=True``. mmengine 0.10.7 calls
``torch.load(filename, map_location=...)`` for local files, and every checkpoint the Runner writes
holds ``message_hub`` records (mmengine ``HistoryBuffer``, numpy arrays and scalars) that the
weights-only unpickler rejects. That breaks ``tools/test.py``, ``--resume`` and
``init_cfg=dict(type='Pretrained')``.

:func:`patch_local_checkpoint_loader` re-registers mmengine's loader for local paths with
:func:`load_local_checkpoint`, which loads through
:func:`mmgcp.utils.safe_checkpoint.load_checkpoint_file`: still weights-only, with exactly the
types those checkpoints hold allowed. A file that needs anything else is refused unless the user
trusts it (``--trust-checkpoint``, ``MMGCP_TRUST_CHECKPOINT=1``). So importing mmgcp makes the
Runner's own checkpoints load again and makes no loader less safe.
"""
from typing import Any, Optional

import torch
from mmengine.runner.checkpoint import CheckpointLoader

from .safe_checkpoint import load_checkpoint_file

_PATCHED = False


def load_local_checkpoint(filename: str, map_location: Optional[Any] = None) -> Any:
    """mmengine's loader for local paths: :func:`load_checkpoint_file` (safe unless trusted).

    Args:
        filename (str): Path of the checkpoint file (``~`` is expanded).
        map_location (Any, optional): Same as :func:`torch.load`. Defaults to None.

    Returns:
        Any: The unpickled checkpoint, usually a dict with ``state_dict`` and ``meta``.
    """
    return load_checkpoint_file(filename, map_location)


def patch_local_checkpoint_loader() -> bool:
    """Register :func:`load_local_checkpoint` as mmengine's loader for local paths.

    Idempotent. Has no effect on torch < 2.5, which lacks the weights-only allowlist API
    (mmgcp pins torch 2.14).

    Returns:
        bool: True when the loader is (now) patched.
    """
    global _PATCHED
    if _PATCHED:
        return True
    if not hasattr(torch.serialization, 'get_unsafe_globals_in_checkpoint'):
        return False
    # The empty prefix is mmengine's fallback scheme for local paths.
    CheckpointLoader.register_scheme(prefixes='', loader=load_local_checkpoint, force=True)
    _PATCHED = True
    return True
