# Copyright (c) mmgcp contributors. All rights reserved.
from typing import List, Optional, Sequence

import torch
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads import UPerHead
from torch import Tensor

from mmgcp.models.utils import (
    CovarianceReductionMixin,
    current_valid_mask,
    padding_from_metas,
    padding_scope,
)
from mmgcp.registry import MODELS


@MODELS.register_module()
class CovUPerHead(CovarianceReductionMixin, UPerHead):
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

    Padding: mmseg pads training crops smaller than the crop size (and test images when the data
    preprocessor has a ``test_cfg``). :meth:`loss` and :meth:`predict`, which mmseg calls with
    the data samples' metainfo, take ``Y`` over each image's own positions only
    (``img_shape`` inside the padded input, :mod:`mmgcp.models.utils.batch_padding`); a direct
    call of :meth:`forward` uses every position.

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
        self.init_covariance_reduction(
            self.in_channels[-1], reduced_channels, post_norm, num_iters, alpha, self.norm_cfg,
            dict(type='ReLU'), reduction_init_cfg=reduction_init_cfg)
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

    def cov_context(self, x: Tensor, valid_mask: Optional[Tensor] = None) -> Tensor:
        """Second-order global context of the last level.

        Args:
            x (Tensor): B x C x H x W features (``in_channels[-1]`` channels).
            valid_mask (Tensor, optional): B x H x W, True on each image's positions of a padded
                batch; ``Y`` is taken over them only. Defaults to None (every position).

        Returns:
            Tensor: B x channels x H x W.
        """
        reduced = self.reduction(x)
        cov = self.reduced_covariance(reduced, valid_mask)
        context = torch.bmm(cov, reduced.flatten(2).to(cov.dtype)).view_as(reduced)
        return self.cov_proj(context.to(x.dtype))

    def psp_forward(self, inputs: List[Tensor]) -> Tensor:
        """PPM and the covariance branch on the last level, fused by the bottleneck."""
        x = inputs[-1]
        outs = [x, *self.psp_modules(x), self.cov_context(x, current_valid_mask(x))]
        return self.bottleneck(torch.cat(outs, dim=1))

    def loss(self, inputs: Sequence[Tensor], batch_data_samples: list, train_cfg: dict) -> dict:
        """mmseg's loss, with the covariance over each image's own positions."""
        padding = padding_from_metas([sample.metainfo for sample in batch_data_samples])
        with padding_scope(padding):
            return super().loss(inputs, batch_data_samples, train_cfg)

    def predict(self, inputs: Sequence[Tensor], batch_img_metas: List[dict],
                test_cfg: dict) -> Tensor:
        """mmseg's prediction, with the covariance over each image's own positions."""
        padding = None
        # mmseg's sliding-window inference marks its crops by a torch.Size img_shape (the
        # crop's own size, see its predict_by_feat): a crop records no padding.
        if batch_img_metas and not isinstance(batch_img_metas[0].get('img_shape'), torch.Size):
            padding = padding_from_metas(batch_img_metas)
        with padding_scope(padding):
            return super().predict(inputs, batch_img_metas, test_cfg)
