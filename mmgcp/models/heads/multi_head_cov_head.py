# Copyright (c) mmgcp contributors. All rights reserved.
"""The classification head of the published DropCov vision transformers."""
from typing import Optional, Tuple

import torch
from torch import Tensor

from mmgcp.ops import cross_covariance
from mmgcp.registry import MODELS

from ..utils import check_rates
from .base_cross_cov_head import BaseCrossCovClsHead


def head_cross_covariance(q: Tensor, k: Tensor) -> Tensor:
    """Per-head cross-covariance centred by one scalar per head, as the published code does.

    ``(1/N) (q - m_q)^T (k - m_k)`` where ``m_q`` is the mean of all ``N x c`` entries of a
    head's queries (not a per-channel mean): the published ``Covariance`` centres with
    ``adaptive_avg_pool2d`` on a 3-D tensor, which averages both dimensions. This equals the
    textbook cross-covariance (:func:`mmgcp.ops.cross_covariance`, per-channel means ``mu``) plus
    the outer product ``(mu_q - m_q)^T (mu_k - m_k)``. Computed in float32 under autocast.

    Args:
        q (Tensor): Queries ``... x N x c``.
        k (Tensor): Keys ``... x N x c``.

    Returns:
        Tensor: ``... x c x c``.
    """
    cov = cross_covariance(q, k)
    with torch.autocast(q.device.type, enabled=False):
        q, k = q.to(cov.dtype), k.to(cov.dtype)
        offset_q = q.mean(dim=-2, keepdim=True) - q.mean(dim=(-2, -1), keepdim=True)
        offset_k = k.mean(dim=-2, keepdim=True) - k.mean(dim=(-2, -1), keepdim=True)
        return cov + offset_q.transpose(-1, -2) @ offset_k


@MODELS.register_module()
class MultiHeadCovClsHead(BaseCrossCovClsHead):
    """DropCov's published ViT head: multi-head token cross-covariance plus a class-token fc.

    The head of ``Deit_drop_{Tiny,Small,Base}`` (``MultiHeadPooling`` and the ``sum_fc``
    classifier of ``mingzeG/DropCov``). Patch tokens go through a bias-free
    ``Linear(C, 3 x heads x c)`` of which only the first two thirds (queries, keys) are used. In
    training one token mask of shape ``B x heads x N`` (rate ``token_drop``, survivors scaled by
    ``1 / (1 - token_drop)``) multiplies both queries and keys: a dropped token is gone from that
    head's covariance. Each head's ``c x c`` cross-covariance (:func:`head_cross_covariance`) goes
    through element-wise dropout (``cov_dropout``), is flattened and classified by ``fc_cov``; the
    class token has its own classifier ``fc_cls`` and the two logits are summed.

    Expects the backbone's tokens after its final norm, class token first
    (:class:`DenseTokenViT` with ``out_type='raw'``).

    Args:
        num_classes (int): Number of categories.
        in_channels (int): Token width (384 for the Small model).
        num_heads (int): Covariance heads (6 for Tiny and Small, 12 for Base). Defaults to 6.
        head_channels (int): Channels of each head's queries and keys (14 for Tiny, 24 for Small
            and Base). Defaults to 24.
        token_drop (float): Rate of the token mask shared by queries and keys. Defaults to 0.2.
        cov_dropout (float): Dropout on the covariance entries (the published code uses 0.5 for
            every size). Defaults to 0.5.
        init_cfg (dict, optional): Defaults to truncated-normal linear weights, zero biases.
        **kwargs: Other arguments of mmpretrain's ``ClsHead`` (loss, topk, ...).
    """

    # Queries, keys and an unused third (values), as published: keeps checkpoints loadable.
    projection_name = 'proj'
    num_projections = 3
    cov_classifier_name = 'fc_cov'
    backbone_hint = "DenseTokenViT(out_type='raw')"

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 num_heads: int = 6,
                 head_channels: int = 24,
                 token_drop: float = 0.2,
                 cov_dropout: float = 0.5,
                 init_cfg: Optional[dict] = dict(
                     type='TruncNormal', layer='Linear', std=0.02, bias=0.),
                 **kwargs):
        check_rates(token_drop=token_drop)
        super().__init__(num_classes, in_channels, num_heads, head_channels, cov_dropout,
                         init_cfg=init_cfg, **kwargs)
        self.token_drop = token_drop

    def draw_token_mask(self, batch_size: int, num_tokens: int, like: Tensor) -> Tensor:
        """One training mask: ``B x heads x N x 1`` of zeros and ``1 / (1 - token_drop)``."""
        keep = 1 - self.token_drop
        shape = (batch_size, self.num_heads, num_tokens, 1)
        return torch.empty(shape, dtype=like.dtype, device=like.device).bernoulli_(keep) / keep

    def pre_logits(self, feats: Tuple[Tensor]) -> Tuple[Tensor, Tensor]:
        """Split tokens into (flattened per-head covariances ``B x heads*c*c``, class token)."""
        cls_token, patches = self.split_tokens(feats[-1])
        b, n, _ = patches.shape
        qkv = self.proj(patches).view(b, n, 3, self.num_heads, self.head_channels)
        q, k = qkv[:, :, 0].transpose(1, 2), qkv[:, :, 1].transpose(1, 2)  # B x heads x N x c
        if self.training and self.token_drop > 0:
            mask = self.draw_token_mask(b, n, q)
            q, k = q * mask, k * mask
        with self.nonfinite_record.scope():
            cov = self.cov_drop(head_cross_covariance(q, k))
        return cov.flatten(1), cls_token
