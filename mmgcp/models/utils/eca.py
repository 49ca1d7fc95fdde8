# Copyright (c) mmgcp contributors. All rights reserved.
import torch
import torch.nn as nn


class ECA(nn.Module):
    """ECA channel attention as DropCov uses it: GAP -> Conv1d(1, 1, k) over channels -> softmax.

    ECA-Net's 1-D convolution across the channel descriptor, with a softmax over channels (not
    ECA-Net's sigmoid): DropCov uses the weights both to attend the features and to set its
    adaptive drop rate (docs/math.md, "DropCov"). The parameter is ``conv.weight``, as in the
    published ``eca_layer.conv.weight``.

    Args:
        kernel_size (int): Size of the 1-D convolution over channels. Defaults to 3.
    """

    def __init__(self, kernel_size: int = 3):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """B x C x H x W -> attention weights B x C that sum to one over channels."""
        pooled = x.mean(dim=(2, 3)).unsqueeze(1)  # B x 1 x C
        return self.conv(pooled).squeeze(1).softmax(dim=1)
