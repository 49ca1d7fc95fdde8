# Copyright (c) mmgcp contributors. All rights reserved.
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from mmgcp.models.utils import CovarianceReductionMixin, current_valid_mask
from mmgcp.registry import MODELS

FUSIONS = ('add', 'scale')


@MODELS.register_module()
class CovAttentionNeck(CovarianceReductionMixin, BaseModule):
    """Second-order channel attention on multi-level backbone features, placed before an FPN.

    The covariance of one level (the last by default, C5 of a ResNet) after the GCP reduction
    (1x1 conv, BN, ReLU to ``reduced_channels``) is normalised (iSQRT-COV by default) and pooled
    into a channel descriptor ``z`` (B x d, the mean of each row, as in second-order channel
    attention). A two-layer MLP per level maps ``z`` to that level's channels, and
    ``fusion`` applies it:

    - ``'add'``: ``x + mlp(z)`` broadcast over positions (second-order global context);
    - ``'scale'``: ``x * 2 sigmoid(mlp(z))`` (second-order channel attention).

    The last layer of every MLP starts at zero, so both start as the identity and fine-tuning
    begins from the pretrained backbone's features (an ``init_cfg`` that re-initialises Linear
    layers changes that). Output channels equal input channels: use it
    as the first of a list of necks, ``neck=[dict(type='mmgcp.CovAttentionNeck', ...),
    dict(type='FPN', ...)]``.

    The reduction has the structure and key names of :class:`GCPNeck`'s, so it can start from a
    GCP-pretrained classifier: ``reduction_init_cfg=dict(type='mmgcp.PretrainedChecked',
    checkpoint=..., prefix='neck.reduction.', strict=True)``.

    Padding: mmdet pads every batch, also a single test image, to a common size (a multiple of
    32). The covariance is taken over each image's own positions only when the neck runs inside
    the forward of ``mmgcp.PaddingAwareMaskRCNN`` or ``mmgcp.PaddingAwareFasterRCNN``, which
    hand it the images' shapes (:mod:`mmgcp.models.utils.batch_padding`); inside mmdet's own
    detectors, or called directly, every position counts.

    Args:
        in_channels (Sequence[int]): Channels of each input level.
        reduced_channels (int): Channels ``d`` of the reduction. Defaults to 256.
        cov_index (int): Input level whose covariance is used. Defaults to -1 (the last).
        post_norm (str): ``'isqrt'``, ``'power'`` or ``'none'`` (see
            :func:`normalized_covariance`). Defaults to ``'isqrt'``.
        num_iters (int): Newton-Schulz iterations of ``'isqrt'``. Defaults to 5.
        alpha (float): Exponent of ``'power'``. Defaults to 0.5.
        hidden_channels (int): Width of the per-level MLPs. Defaults to 64.
        fusion (str): ``'add'`` or ``'scale'``. Defaults to ``'add'``.
        norm_cfg (dict): Norm layer of the reduction. Defaults to ``dict(type='BN')``.
        act_cfg (dict): Activation of the reduction. Defaults to ``dict(type='ReLU')``.
        norm_eval (bool): Keep the reduction's norm layer in eval mode while training (frozen
            statistics, as detection backbones do with small batches). Defaults to False.
        reduction_init_cfg (dict, optional): Initialisation of the reduction alone, applied after
            ``init_cfg``. Defaults to None.
        init_cfg (dict | list[dict], optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 reduced_channels: int = 256,
                 cov_index: int = -1,
                 post_norm: str = 'isqrt',
                 num_iters: int = 5,
                 alpha: float = 0.5,
                 hidden_channels: int = 64,
                 fusion: str = 'add',
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 norm_eval: bool = False,
                 reduction_init_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if fusion not in FUSIONS:
            raise ValueError(f"fusion='{fusion}' is not supported; choose one of {FUSIONS}.")
        in_channels = list(in_channels)
        if not -len(in_channels) <= cov_index < len(in_channels):
            raise ValueError(f'cov_index={cov_index} is out of range for {len(in_channels)} '
                             f'input levels (in_channels={in_channels}).')
        self.init_covariance_reduction(
            in_channels[cov_index], reduced_channels, post_norm, num_iters, alpha, norm_cfg,
            act_cfg, reduction_init_cfg=reduction_init_cfg)
        self.in_channels = in_channels
        self.cov_index = cov_index
        self.fusion = fusion
        self.norm_eval = norm_eval
        self.level_mlps = nn.ModuleList(
            nn.Sequential(
                nn.Linear(reduced_channels, hidden_channels), nn.ReLU(inplace=True),
                nn.Linear(hidden_channels, channels)) for channels in in_channels)
        for mlp in self.level_mlps:
            nn.init.zeros_(mlp[-1].weight)
            nn.init.zeros_(mlp[-1].bias)

    def descriptor(self, x: torch.Tensor,
                   valid_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Second-order channel descriptor of one feature map.

        Args:
            x (torch.Tensor): B x C x H x W features of the ``cov_index`` level.
            valid_mask (torch.Tensor, optional): B x H x W, True on each image's positions of a
                padded batch; the covariance is taken over them only. Defaults to None (all).

        Returns:
            torch.Tensor: B x d, row means of the normalised covariance of the reduced features.
        """
        sigma = self.reduced_covariance(self.reduction(x), valid_mask)
        return sigma.mean(dim=2).to(x.dtype)

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        """Apply the second-order attention to every level.

        Args:
            inputs (Sequence[torch.Tensor]): One B x C_i x H_i x W_i map per level.

        Returns:
            tuple[torch.Tensor]: The levels, same shapes as the inputs.
        """
        if not isinstance(inputs, (tuple, list)) or len(inputs) != len(self.in_channels):
            got = len(inputs) if isinstance(inputs, (tuple, list)) else type(inputs).__name__
            raise ValueError(f'CovAttentionNeck expects {len(self.in_channels)} feature maps '
                             f'(in_channels={self.in_channels}), got {got}.')
        cov_input = inputs[self.cov_index]
        z = self.descriptor(cov_input, current_valid_mask(cov_input))
        outs: List[torch.Tensor] = []
        for x, mlp in zip(inputs, self.level_mlps):
            weights = mlp(z)[:, :, None, None]
            outs.append(x + weights if self.fusion == 'add' else x * 2 * weights.sigmoid())
        return tuple(outs)

    def train(self, mode: bool = True) -> 'CovAttentionNeck':
        """Set train mode, keeping the reduction's norm layer in eval mode if ``norm_eval``."""
        super().train(mode)
        if mode and self.norm_eval:
            for module in self.reduction.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self
