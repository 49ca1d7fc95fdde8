# Copyright (c) mmgcp contributors. All rights reserved.
from typing import List, Optional, Sequence

import torch
from mmcv.cnn import ConvModule
from mmengine.model.weight_init import initialize
from mmseg.models.decode_heads import UPerHead

from mmgcp.models.utils import MATRIX_POST_NORMS, check_norm, normalized_covariance
from mmgcp.ops import NonFiniteRecord
from mmgcp.registry import MODELS


@MODELS.register_module()
class CovUPerHead(UPerHead):
    """UperNet head with a second-order global context branch next to its pyramid pooling.

    On the last input level (C5) the branch applies the GCP reduction (1x1 conv, the head's norm
    layer, ReLU to ``reduced_channels``), computes the normalised covariance ``Y`` (B x d x d,
    iSQRT-COV by default) of the reduced features ``r`` and projects ``Y r`` (every position's
    reduced feature transformed by the image's second-order statistics) to ``channels`` with a
    1x1 ConvModule. The result is concatenated with the PPM outputs before UperNet's bottleneck,
    which is widened by ``channels``; everything else is :class:`mmseg.models.UPerHead`.

    The reduction has the structure and key names of :class:`GCPNeck`'s, so it can start from a
    GCP-pretrained classifier: ``reduction_init_cfg=dict(type='mmgcp.PretrainedChecked',
    checkpoint=..., prefix='neck.reduction.', strict=True)``.

    Args:
        reduced_channels (int): Channels ``d`` of the reduction. Defaults to 256.
        post_norm (str): ``'isqrt'``, ``'power'`` or ``'none'`` (see
            :func:`normalized_covariance`). Defaults to ``'isqrt'``.
        num_iters (int): Newton-Schulz iterations of ``'isqrt'``. Defaults to 5.
        alpha (float): Exponent of ``'power'``. Defaults to 0.5.
        reduction_init_cfg (dict, optional): Initialisation of the reduction alone, applied after
            ``init_cfg``. Defaults to None.
        pool_scales (Sequence[int]): Pooling scales of the PPM. Defaults to (1, 2, 3, 6).
        **kwargs: Arguments of :class:`mmseg.models.decode_heads.BaseDecodeHead`.
    """

    def __init__(self,
                 reduced_channels: int = 256,
                 post_norm: str = 'isqrt',
                 num_iters: int = 5,
                 alpha: float = 0.5,
                 reduction_init_cfg: Optional[dict] = None,
                 pool_scales: Sequence[int] = (1, 2, 3, 6),
                 **kwargs):
        super().__init__(pool_scales=pool_scales, **kwargs)
        check_norm('post_norm', post_norm, MATRIX_POST_NORMS)
        self.reduced_channels = reduced_channels
        self.post_norm = post_norm
        self.num_iters = num_iters
        self.alpha = alpha
        self.reduction_init_cfg = reduction_init_cfg
        # NaN/Inf seen by the covariance ops, recorded on the device (mmgcp.NonFiniteCheckHook).
        self.nonfinite_record = NonFiniteRecord('raise')
        self.reduction = ConvModule(
            self.in_channels[-1], reduced_channels, 1, bias=False, norm_cfg=self.norm_cfg,
            act_cfg=dict(type='ReLU'))
        self.cov_proj = ConvModule(
            reduced_channels,
            self.channels,
            1,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
        # UPerHead's bottleneck, widened by the covariance branch.
        self.bottleneck = ConvModule(
            self.in_channels[-1] + (len(pool_scales) + 1) * self.channels,
            self.channels,
            3,
            padding=1,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)

    def init_weights(self) -> None:
        """Apply ``init_cfg``, then ``reduction_init_cfg`` to the reduction."""
        super().init_weights()
        if self.reduction_init_cfg is not None:
            initialize(self.reduction, self.reduction_init_cfg)

    def cov_context(self, x: torch.Tensor) -> torch.Tensor:
        """Second-order global context of the last level.

        Args:
            x (torch.Tensor): B x C x H x W features (``in_channels[-1]`` channels).

        Returns:
            torch.Tensor: B x channels x H x W.
        """
        reduced = self.reduction(x)
        with self.nonfinite_record.scope():
            cov = normalized_covariance(reduced, self.post_norm, self.num_iters, self.alpha)
        context = torch.bmm(cov, reduced.flatten(2).float()).view_as(reduced)
        return self.cov_proj(context.to(x.dtype))

    def psp_forward(self, inputs: List[torch.Tensor]) -> torch.Tensor:
        """PPM and the covariance branch on the last level, fused by the bottleneck."""
        x = inputs[-1]
        outs = [x, *self.psp_modules(x), self.cov_context(x)]
        return self.bottleneck(torch.cat(outs, dim=1))
