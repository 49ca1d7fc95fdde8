# Copyright (c) mmgcp contributors. All rights reserved.
"""What the two cross-covariance classification heads of ViTs share."""
from typing import Optional, Tuple

import torch.nn as nn
from mmpretrain.models.heads import ClsHead
from torch import Tensor

from mmgcp.ops import NonFiniteRecord

from ..utils import check_rates


class BaseCrossCovClsHead(ClsHead):
    """Per-head query/key cross-covariances of the patch tokens plus a class-token classifier.

    Builds, in this order (the order the random initialisation follows): a bias-free projection
    of the patch tokens to ``num_projections`` groups of ``num_heads x head_channels`` channels,
    the dropout on the covariance entries, the classifier of the flattened covariances and the
    classifier of the class token ``fc_cls``. Subclasses name the projection and the covariance
    classifier (their checkpoint keys) and compute the covariances in ``pre_logits``; the
    logits are the sum of the two classifiers'.

    Args:
        num_classes (int): Number of categories.
        in_channels (int): Token width.
        num_heads (int): Covariance heads.
        head_channels (int): Channels of each head's queries and keys.
        cov_dropout (float): Dropout on the covariance entries.
        init_cfg (dict, optional): Initialisation config.
        **kwargs: Other arguments of mmpretrain's ``ClsHead`` (loss, topk, ...).
    """

    #: Attribute (checkpoint key) of the projection of the patch tokens.
    projection_name = 'proj'
    #: Groups of ``num_heads x head_channels`` channels the projection makes.
    num_projections = 2
    #: Attribute (checkpoint key) of the classifier of the flattened covariances.
    cov_classifier_name = 'fc_cov'
    #: The backbone setting that gives the expected tokens, named in the error message.
    backbone_hint = "VisionTransformer(out_type='raw')"

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 num_heads: int,
                 head_channels: int,
                 cov_dropout: float,
                 init_cfg: Optional[dict] = None,
                 **kwargs):
        super().__init__(init_cfg=init_cfg, **kwargs)
        check_rates(cov_dropout=cov_dropout)
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.num_heads = num_heads
        self.head_channels = head_channels
        # NaN/Inf seen by the covariance op, recorded on the device (mmgcp.NonFiniteCheckHook).
        self.nonfinite_record = NonFiniteRecord('raise')
        setattr(self, self.projection_name,
                nn.Linear(in_channels, self.num_projections * num_heads * head_channels,
                          bias=False))
        self.cov_drop = nn.Dropout(cov_dropout)
        setattr(self, self.cov_classifier_name,
                nn.Linear(num_heads * head_channels * head_channels, num_classes))
        self.fc_cls = nn.Linear(in_channels, num_classes)

    def split_tokens(self, tokens: Tensor) -> Tuple[Tensor, Tensor]:
        """Check ``B x (1 + N) x C`` tokens, class token first; return (class token, patches)."""
        if not isinstance(tokens, Tensor) or tokens.dim() != 3 \
                or tokens.size(-1) != self.in_channels:
            found = tuple(tokens.shape) if isinstance(tokens, Tensor) else type(tokens).__name__
            raise ValueError(
                f'{type(self).__name__} expects B x (1 + N) x {self.in_channels} tokens, class '
                f'token first, got {found}; use {self.backbone_hint}.')
        return tokens[:, 0], tokens[:, 1:]

    def forward(self, feats: Tuple[Tensor]) -> Tensor:
        """Logits: the covariance classifier's plus the class-token classifier's."""
        cov, cls_token = self.pre_logits(feats)
        return getattr(self, self.cov_classifier_name)(cov) + self.fc_cls(cls_token)
