# Copyright (c) mmgcp contributors. All rights reserved.
from typing import Tuple

import torch
import torch.nn as nn
from mmpretrain.models.heads import LinearClsHead

from mmgcp.registry import MODELS

from ..utils import check_rates


@MODELS.register_module()
class DropoutLinearClsHead(LinearClsHead):
    """``LinearClsHead`` with dropout before the classifier (MobileNetV2 GCP keeps Dropout(0.2)).

    Args:
        num_classes (int): Number of categories.
        in_channels (int): Length of the input vector (d(d+1)/2 after a GCP neck).
        dropout_rate (float): Dropout probability before the linear layer. Defaults to 0.2.
        **kwargs: Other arguments of mmpretrain's ``LinearClsHead``.
    """

    def __init__(self, num_classes: int, in_channels: int, dropout_rate: float = 0.2, **kwargs):
        super().__init__(num_classes=num_classes, in_channels=in_channels, **kwargs)
        check_rates(dropout_rate=dropout_rate)
        self.dropout = nn.Dropout(dropout_rate)

    def pre_logits(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        return self.dropout(feats[-1])
