# Copyright (c) mmgcp contributors. All rights reserved.
"""``mmgcp.PretrainedChecked``: mmengine's ``Pretrained`` initializer that says how to get a
missing checkpoint.

mmengine stops on a missing local checkpoint with ``FileNotFoundError: <path> can not be found``.
For a transfer config that is not enough: the user needs to know which pretraining config makes
the file, that published checkpoints can be converted, and which config key to point elsewhere.
This initializer checks the file first and says all of that; it then loads like ``Pretrained``
(optionally strict, with key renaming and position-embedding resizing for ViT trunks).
"""
import math
import os.path as osp
import re
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model.weight_init import update_init_info
from mmengine.runner.checkpoint import CheckpointLoader, load_state_dict

from mmgcp.registry import WEIGHT_INITIALIZERS

# mmgcp's node in mmengine's initializer registry, so that any config can use
# ``init_cfg=dict(type='mmgcp.PretrainedChecked', ...)``. Reuse it if mmgcp.registry made one.


#: A checkpoint given as ``scheme://...`` (http, torchvision, open-mmlab, s3, ...) is not a file.
_URL_PATTERN = re.compile(r'^[A-Za-z][A-Za-z0-9+.-]*://')


def missing_checkpoint_message(checkpoint: str,
                               module_name: str,
                               prefix: Optional[str] = None,
                               pretrain_config: Optional[str] = None) -> str:
    """The how-to shown when a pretrained checkpoint file does not exist.

    Args:
        checkpoint (str): The path that was not found.
        module_name (str): Class name of the module being initialised.
        prefix (str, optional): Key prefix read from the checkpoint. Defaults to None.
        pretrain_config (str, optional): Config that trains the checkpoint. Defaults to None.

    Returns:
        str: A multi-line message.
    """
    what = f"'{prefix}*' of " if prefix else ''
    lines = [
        f"pretrained checkpoint '{checkpoint}' does not exist (needed to initialise {module_name} "
        f'from {what}it). Get one of these ways:'
    ]
    if pretrain_config:
        work_dir = 'work_dirs/' + osp.splitext(osp.basename(pretrain_config))[0]
        lines.append(f'  - train it: python tools/train.py {pretrain_config} '
                     f'(then use {work_dir}/epoch_<N>.pth, an mmpretrain-format checkpoint);')
    lines += [
        '  - convert a published checkpoint (GCP / DropCov reference code, torchvision GAP '
        'ResNet) to mmpretrain format: python tools/model_converters/gcp2mmpretrain.py SRC DST '
        '(docs/checkpoints.md, "Converting");',
    ]
    if prefix and prefix.startswith('neck.'):
        keys = ('model.neck.<i>.reduction_init_cfg.checkpoint=PATH (a GCP neck) or '
                'model.decode_head.reduction_init_cfg.checkpoint=PATH (a GCP decode head)')
    else:
        keys = 'model.backbone.init_cfg.checkpoint=PATH'
    lines.append(f'  - or point the config at an existing file: --cfg-options {keys}.')
    return '\n'.join(lines)


def check_checkpoint_exists(checkpoint: str,
                            module_name: str = 'the model',
                            prefix: Optional[str] = None,
                            pretrain_config: Optional[str] = None) -> None:
    """Raise FileNotFoundError with a how-to when a local checkpoint file is missing.

    URLs and other ``scheme://`` locations are left to mmengine's loaders.

    Args:
        checkpoint (str): Path or URL.
        module_name (str): Class name of the module being initialised, for the message.
        prefix (str, optional): Key prefix read from the checkpoint, for the message.
        pretrain_config (str, optional): Config that trains the checkpoint, for the message.
    """
    if not isinstance(checkpoint, str) or not checkpoint:
        raise TypeError(f'init_cfg.checkpoint must be a non-empty path or URL, got '
                        f'{checkpoint!r}.')
    if _URL_PATTERN.match(checkpoint) or osp.isfile(osp.expanduser(checkpoint)):
        return
    raise FileNotFoundError(
        missing_checkpoint_message(checkpoint, module_name, prefix, pretrain_config))


def resize_pos_embed(pos_embed: torch.Tensor, num_patches: int,
                     num_extra_tokens: int = 1) -> torch.Tensor:
    """Resize a ViT position embedding ``1 x (E + h*w) x C`` to another square patch grid.

    The ``E`` extra tokens (class token) keep their embedding; the grid is resized bicubically.

    Args:
        pos_embed (torch.Tensor): ``1 x (E + h*w) x C`` with a square ``h x w`` grid.
        num_patches (int): Patches of the target grid (a square number).
        num_extra_tokens (int): Extra tokens in front of the grid. Defaults to 1.

    Returns:
        torch.Tensor: ``1 x (E + num_patches) x C``.
    """
    extra, grid = pos_embed[:, :num_extra_tokens], pos_embed[:, num_extra_tokens:]
    src_side, dst_side = math.isqrt(grid.shape[1]), math.isqrt(num_patches)
    if src_side ** 2 != grid.shape[1] or dst_side ** 2 != num_patches:
        raise ValueError(f'pos_embed grids must be square, got {grid.shape[1]} -> {num_patches} '
                         'patches.')
    grid = grid.reshape(1, src_side, src_side, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid.float(), size=(dst_side, dst_side), mode='bicubic',
                         align_corners=False)
    grid = grid.permute(0, 2, 3, 1).reshape(1, num_patches, -1).to(pos_embed.dtype)
    return torch.cat([extra, grid], dim=1)


@WEIGHT_INITIALIZERS.register_module(name='PretrainedChecked')
class PretrainedChecked:
    """Initialise a module from a checkpoint; a missing file stops with a how-to.

    Behaves like mmengine's ``Pretrained`` (``checkpoint``, ``prefix``, ``map_location``; keys
    under ``prefix`` are loaded, others ignored) and adds:

    - a missing local file raises FileNotFoundError that says how to train or convert one and
      how to override the path with ``--cfg-options``;
    - a prefix that matches no key raises KeyError naming the first keys found;
    - ``revise_keys`` renames keys (e.g. mmpretrain ViT -> mmseg ViT names);
    - a ``pos_embed`` of another grid size is resized (ViT at 512 px from 224 px weights);
    - ``strict=True`` raises when any key is missing, unexpected or of another shape (use it
      where the whole module must come from the checkpoint, like a GCP reduction layer).

    Use it as ``init_cfg=dict(type='mmgcp.PretrainedChecked', checkpoint=..., prefix=...)``.
    mmengine's ``BaseModule`` runs ``type='Pretrained'`` after the children's own
    ``init_weights`` and this one before them, so use it where the children have no init_cfg of
    their own: trunks (mmdet / mmseg ResNet, mmseg ViT with ``pretrained=None``) and reduction
    layers (``reduction_init_cfg``), as the configs do.

    Args:
        checkpoint (str): Path or URL of the checkpoint.
        prefix (str, optional): Load only keys starting with it, with it removed, e.g.
            ``'backbone.'`` or ``'neck.reduction.'``. Defaults to None (all keys).
        map_location (str): Device the tensors are loaded to. Defaults to ``'cpu'``.
        revise_keys (Sequence[tuple[str, str]]): ``(regex, replacement)`` pairs applied in order
            to every key after the prefix is removed. Defaults to ``()``.
        strict (bool): Require an exact match of keys and shapes. Defaults to False.
        pretrain_config (str, optional): The config that trains this checkpoint, named in the
            missing-file message. Defaults to None.
    """

    def __init__(self,
                 checkpoint: str,
                 prefix: Optional[str] = None,
                 map_location: str = 'cpu',
                 revise_keys: Sequence[Tuple[str, str]] = (),
                 strict: bool = False,
                 pretrain_config: Optional[str] = None):
        if prefix is not None and not prefix.endswith('.'):
            prefix += '.'
        self.checkpoint = checkpoint
        self.prefix = prefix
        self.map_location = map_location
        self.revise_keys = [(re.compile(pattern), repl) for pattern, repl in revise_keys]
        self.strict = strict
        self.pretrain_config = pretrain_config

    def _state_dict(self) -> Dict[str, torch.Tensor]:
        checkpoint = CheckpointLoader.load_checkpoint(
            self.checkpoint, map_location=self.map_location, logger='current')
        state_dict = checkpoint.get('state_dict', checkpoint) if isinstance(
            checkpoint, dict) else None
        if not isinstance(state_dict, dict):
            raise TypeError(f"checkpoint '{self.checkpoint}' holds a {type(checkpoint).__name__}, "
                            'expected a state dict or a dict with "state_dict".')
        if self.prefix is not None:
            found = list(state_dict)
            state_dict = {
                k[len(self.prefix):]: v
                for k, v in state_dict.items() if k.startswith(self.prefix)
            }
            if not state_dict:
                raise KeyError(f"checkpoint '{self.checkpoint}' has no keys starting with "
                               f"'{self.prefix}'; its first keys are {found[:5]}. Check the "
                               "prefix ('backbone.' for mmpretrain-format checkpoints).")
        for pattern, repl in self.revise_keys:
            state_dict = {pattern.sub(repl, k): v for k, v in state_dict.items()}
        return state_dict

    @staticmethod
    def _match_pos_embed(module: nn.Module, state_dict: Dict[str, torch.Tensor]) -> None:
        target = getattr(module, 'pos_embed', None)
        source = state_dict.get('pos_embed')
        if not isinstance(target, torch.Tensor) or source is None or source.shape == target.shape:
            return
        num_extra = source.shape[1] - math.isqrt(source.shape[1] - 1) ** 2
        print_log(f'resize pos_embed {tuple(source.shape)} -> {tuple(target.shape)}',
                  logger='current')
        state_dict['pos_embed'] = resize_pos_embed(source, target.shape[1] - num_extra, num_extra)

    def __call__(self, module: nn.Module) -> None:
        check_checkpoint_exists(self.checkpoint, type(module).__name__, self.prefix,
                                self.pretrain_config)
        what = f'{self.prefix}* of ' if self.prefix else ''
        print_log(f'load {what}{self.checkpoint} into {type(module).__name__}', logger='current')
        state_dict = self._state_dict()
        self._match_pos_embed(module, state_dict)
        load_state_dict(module, state_dict, strict=self.strict, logger='current')
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())

    def _get_init_info(self) -> str:
        return f'{self.__class__.__name__}: load from {self.checkpoint}'

