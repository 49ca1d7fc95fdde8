# Copyright (c) mmgcp contributors. All rights reserved.
from typing import Optional, Tuple

import torch

from mmgcp.ops import cross_covariance
from mmgcp.registry import MODELS

from ..utils import check_rates
from .base_cross_cov_head import BaseCrossCovClsHead


@MODELS.register_module()
class ElementDropCovClsHead(BaseCrossCovClsHead):
    """mmgcp's DropCov-style head for mmpretrain's plain ViTs (DeiT-S), with an element-wise mask.

    Not the published DropCov ViT head (that is :class:`MultiHeadCovClsHead` on
    :class:`DenseTokenViT`, the model of the paper's 82.4% DeiT-S number). It differs in three
    ways: the mask shared by queries and keys drops single entries (not whole tokens per head),
    the covariance is centred per channel (not by one scalar per head), and the projection has
    no unused third. It fits mmpretrain's ``VisionTransformer`` directly.

    The backbone must return all tokens after its final norm (mmpretrain's
    ``VisionTransformer(out_type='raw')``), class token first. Patch tokens are projected by a
    bias-free linear layer into per-head queries and keys; one dropout mask (training only) is
    shared by both; each head's cross-covariance ``(1/N)(q - mu)^T (k - mu)`` is dropped out
    element-wise, flattened and classified; the class token has its own classifier and the two
    logits are summed.

    Args:
        num_classes (int): Number of categories.
        in_channels (int): Token width (384 for DeiT-S).
        num_heads (int): Number of covariance heads. Defaults to 6.
        head_channels (int): Channels of each head's queries and keys. Defaults to 24.
        qk_dropout (float): Rate of the mask shared by queries and keys. Defaults to 0.2.
        cov_dropout (float): Dropout on the covariance entries. Defaults to 0.5.
        init_cfg (dict, optional): Defaults to truncated-normal linear layers.
        **kwargs: Other arguments of mmpretrain's ``ClsHead`` (loss, topk, ...).
    """

    projection_name = 'qk'
    num_projections = 2
    cov_classifier_name = 'fc_visual'

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 num_heads: int = 6,
                 head_channels: int = 24,
                 qk_dropout: float = 0.2,
                 cov_dropout: float = 0.5,
                 init_cfg: Optional[dict] = dict(type='TruncNormal', layer='Linear', std=0.02),
                 **kwargs):
        check_rates(qk_dropout=qk_dropout)
        super().__init__(num_classes, in_channels, num_heads, head_channels, cov_dropout,
                         init_cfg=init_cfg, **kwargs)
        self.qk_dropout = qk_dropout

    def pre_logits(self, feats: Tuple[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Split tokens into (flattened per-head covariances, class token)."""
        tokens = feats[-1]
        if isinstance(tokens, (tuple, list)):  # out_type='raw' may wrap the tokens
            tokens = tokens[0]
        cls_token, patches = self.split_tokens(tokens)
        b, n, _ = patches.shape
        qk = self.qk(patches).view(b, n, 2, self.num_heads, self.head_channels)
        q, k = qk.permute(2, 0, 3, 1, 4).unbind(0)  # each B x heads x N x c
        if self.training and self.qk_dropout > 0:
            keep = 1 - self.qk_dropout
            mask = torch.bernoulli(torch.full_like(q, keep)) / keep
            q, k = q * mask, k * mask
        with self.nonfinite_record.scope():
            cov = cross_covariance(q, k)  # B x heads x c x c
        return self.cov_drop(cov.flatten(1)), cls_token


@MODELS.register_module()
class TokenCovClsHead:
    """The old name of :class:`ElementDropCovClsHead`: building it says what to use instead."""

    def __init__(self, *args, **kwargs):
        raise TypeError(
            "TokenCovClsHead was renamed: it is mmgcp's DropCov-style head for plain DeiT-S "
            "(element-wise q/k mask), now type='mmgcp.ElementDropCovClsHead' with the same "
            "arguments. The head of the published DropCov ViT (token mask per head, the paper's "
            "DeiT-S numbers) is type='mmgcp.MultiHeadCovClsHead' on type='mmgcp.DenseTokenViT'.")
