# Copyright (c) mmgcp contributors. All rights reserved.
"""Refuse to evaluate a model with a checkpoint that does not cover it.

mmengine loads checkpoints for evaluation with ``strict=False``: weights the checkpoint lacks stay
at their random initialisation and the only sign is a warning in the log. A classifier evaluated
with a Mask R-CNN checkpoint then reports a plausible-looking accuracy. Every evaluation entry
point of mmgcp (``tools/test.py``, the benchmark, robustness, flatness) calls
:func:`check_checkpoint_covers_model` first, which raises :class:`CheckpointMismatchError` with
the keys, the config the checkpoint was made for and how to fix it.
"""
import os.path as osp
import re
from typing import Dict, List, Optional, Union

import torch
from torch import nn

from .safe_checkpoint import load_checkpoint_file

#: Keys listed in full before the rest are summarised by their prefixes.
MAX_LISTED_KEYS = 8


class CheckpointMismatchError(RuntimeError):
    """The checkpoint's weights do not match the model that is being evaluated."""


def _summarise(keys: List[str]) -> str:
    if len(keys) <= MAX_LISTED_KEYS:
        return ', '.join(keys)
    groups: Dict[str, int] = {}
    for key in keys:
        prefix = '.'.join(key.split('.')[:2])
        groups[prefix] = groups.get(prefix, 0) + 1
    by_prefix = ', '.join(f'{prefix}.* ({n})' for prefix, n in sorted(groups.items()))
    return f'{", ".join(keys[:MAX_LISTED_KEYS])}, ... ({len(keys)} in all: {by_prefix})'


def checkpoint_origin(checkpoint: dict) -> Optional[str]:
    """What a checkpoint's ``meta`` says it was made for, e.g. ``'config resnet18-w16-gcp_1xb32_toy
    (model ImageClassifier, backbone ResNet, neck mmgcp.GCPNeck)'``; None when it says nothing.

    Args:
        checkpoint (dict): A loaded checkpoint.

    Returns:
        str | None: A short description of the config.
    """
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    if not isinstance(meta, dict):
        return None
    parts = []
    name = meta.get('experiment_name')
    if isinstance(name, str) and name:
        # mmengine names experiments '<config file name>_<YYYYmmdd_HHMMSS>'.
        parts.append('config ' + re.sub(r'_\d{8}_\d{6}$', '', name))
    types = _model_types(meta.get('cfg'))
    if types:
        parts.append('(' + ', '.join(types) + ')')
    source = meta.get('source')
    if isinstance(source, str) and not parts:
        parts.append(f'weights taken from {source}')
    return ' '.join(parts) or None


def _model_types(cfg_text) -> List[str]:
    """``['model MaskRCNN', 'backbone ResNet', ...]`` from the config text mmengine stores."""
    if not isinstance(cfg_text, str):
        return []
    try:
        from mmengine.config import Config
        model = Config.fromstring(cfg_text, '.py').get('model') or {}
    except Exception:  # a config that no longer parses here only loses the detail
        return []
    types = [f"model {model['type']}"] if 'type' in model else []
    for part in ('backbone', 'neck', 'head', 'decode_head', 'roi_head'):
        sub = model.get(part)
        if isinstance(sub, dict) and 'type' in sub:
            types.append(f"{part} {sub['type']}")
    return types


def compare_state_dicts(model_state: Dict[str, torch.Tensor],
                        ckpt_state: Dict[str, torch.Tensor]) -> Dict[str, List[str]]:
    """Keys missing from / unexpected in the checkpoint and keys whose shapes differ.

    Args:
        model_state (dict[str, Tensor]): The model's ``state_dict()``.
        ckpt_state (dict[str, Tensor]): The checkpoint's state dict (``module.`` prefixes of
            wrapped models removed, as mmengine does).

    Returns:
        dict[str, list[str]]: ``missing``, ``unexpected`` and ``shape`` (``'key: ckpt (A) vs
        model (B)'``), each sorted.
    """
    ckpt_state = {re.sub(r'^module\.', '', k): v for k, v in ckpt_state.items()}
    missing = sorted(set(model_state) - set(ckpt_state))
    unexpected = sorted(set(ckpt_state) - set(model_state))
    shape = sorted(
        f'{k}: checkpoint {tuple(ckpt_state[k].shape)} vs model {tuple(model_state[k].shape)}'
        for k in set(model_state) & set(ckpt_state)
        if hasattr(ckpt_state[k], 'shape') and tuple(ckpt_state[k].shape) != tuple(
            model_state[k].shape))
    return dict(missing=missing, unexpected=unexpected, shape=shape)


def check_checkpoint_covers_model(model: nn.Module, checkpoint: Union[str, dict],
                                  allow_partial: bool = False,
                                  config: Optional[str] = None) -> Dict[str, List[str]]:
    """Raise unless the checkpoint holds exactly the model's weights (names and shapes).

    Args:
        model (nn.Module): The model to evaluate (a DDP-style wrapper is unwrapped).
        checkpoint (str | dict): Path of the checkpoint file (loaded with
            :func:`load_checkpoint_file`: refused when it needs untrusted types), or the loaded
            checkpoint.
        allow_partial (bool): Only report the differences instead of raising, for the rare case
            where partial loading is meant (``--allow-partial`` of the tools). Defaults to False.
        config (str, optional): The config being evaluated, named in the message.

    Returns:
        dict[str, list[str]]: The differences (see :func:`compare_state_dicts`); all empty when
        the checkpoint covers the model.

    Raises:
        CheckpointMismatchError: When keys are missing, unexpected or of another shape and
            ``allow_partial`` is False.
    """
    path = checkpoint if isinstance(checkpoint, str) else None
    if path is not None:
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'checkpoint {path} does not exist; pass the .pth written by tools/train.py '
                '(e.g. work_dirs/<config>/epoch_N.pth) or a converted checkpoint.')
        checkpoint = load_checkpoint_file(path, map_location='cpu')
    if not isinstance(checkpoint, dict):
        raise CheckpointMismatchError(
            f'checkpoint {path or ""} holds a {type(checkpoint).__name__}, not a state dict.')
    state = checkpoint.get('state_dict', checkpoint)
    model = getattr(model, 'module', model)
    diff = compare_state_dicts(model.state_dict(), state)
    if allow_partial or not any(diff.values()):
        return diff
    lines = [f'checkpoint {path or "(given dict)"} does not cover the model'
             f'{" of " + config if config else ""}:']
    if diff['missing']:
        lines.append(f'  missing from the checkpoint (would stay randomly initialised): '
                     f"{_summarise(diff['missing'])}")
    if diff['unexpected']:
        lines.append(f"  in the checkpoint but not in the model: {_summarise(diff['unexpected'])}")
    if diff['shape']:
        lines.append(f"  shapes differ: {_summarise(diff['shape'])}")
    origin = checkpoint_origin(checkpoint)
    lines.append(f'  the checkpoint was made for: {origin or "unknown (no meta in the file)"}')
    lines.append(
        '  Fix: evaluate it with the config it was trained with, or pass a checkpoint trained '
        'with this config (tools/train.py CONFIG writes work_dirs/<config>/epoch_N.pth); convert '
        'published checkpoints with tools/model_converters/gcp2mmpretrain.py. If loading only '
        'part of the model is really meant, pass --allow-partial.')
    raise CheckpointMismatchError('\n'.join(lines))
