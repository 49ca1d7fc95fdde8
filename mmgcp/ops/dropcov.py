# Copyright (c) mmgcp contributors. All rights reserved.
"""DropCov: adaptive channel dropout in place of post-normalisation (NeurIPS'22)."""
import math
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ._utils import autocast_disabled, to_compute_dtype


def drop_rate(x: Tensor, weights: Tensor) -> Tensor:
    """DropCov's adaptive drop rate of a batch (no gradient).

    ``c_b`` = row sums of ``covariance(x)_b``, ``r_b = cos(w_b, c_b)``,
    ``p = clamp(1 - (10 / log2 d) mean_b r_b, 0, 1)``. The row sums are computed as
    ``(1/M) Xc (Xc^T 1)`` without forming the d x d covariance.

    Args:
        x (Tensor): Attended features ``B x d x H x W`` (or ``B x d x M``).
        weights (Tensor): Channel attention ``B x d``.

    Returns:
        Tensor: The rate p in [0, 1], a 0-d tensor on the device of ``x`` (float32, or float64
        for float64 inputs). It is not turned into a Python float, which would wait for the
        device; ``float(rate)`` does that where needed.
    """
    with torch.no_grad(), autocast_disabled(x.device.type):
        feats = to_compute_dtype(x.flatten(2), 'adaptive_channel_dropout')
        centred = feats - feats.mean(dim=-1, keepdim=True)
        row_sums = torch.bmm(centred, centred.sum(dim=1, keepdim=True).mT).squeeze(-1)
        row_sums.div_(feats.shape[-1])
        cosine = F.cosine_similarity(weights.to(row_sums.dtype), row_sums, dim=1)
        rate = 1.0 - 10.0 / math.log2(x.shape[1]) * cosine.mean()
        return rate.clamp(0.0, 1.0)


def adaptive_channel_dropout(x: Tensor,
                             weights: Tensor,
                             training: bool = True,
                             generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
    """DropCov's adaptive channel dropout (steps 2-5 of the method), training only.

    The rate ``p`` comes from :func:`drop_rate` on the current batch (no gradient, no
    schedule); whole channels are then dropped per sample with probability ``p`` and the
    survivors are scaled by ``1 / (1 - p)``. With ``p == 1`` every channel is dropped and the
    output is zero (never NaN/Inf). No value is read back from the device (no host sync).

    Args:
        x (Tensor): Attended features ``x' = x * w + x``, ``B x d x H x W`` (or ``B x d x M``).
        weights (Tensor): Channel attention ``w``, ``B x d`` (softmax over channels).
        training (bool): When False, return ``x`` untouched and a zero rate. Defaults to True.
        generator (torch.Generator, optional): Random generator of the mask, for reproducible
            masks. Defaults to None (the global generator).

    Returns:
        tuple[Tensor, Tensor]: The features (same shape and dtype as ``x``) and the rate p used
        (a 0-d tensor, see :func:`drop_rate`).
    """
    if not isinstance(x, Tensor) or x.dim() < 3:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f'adaptive_channel_dropout expects features of shape B x d x H x W, '
                         f'got {shape}.')
    if x.shape[1] < 2:
        raise ValueError(f'adaptive_channel_dropout needs d >= 2 channels (the rate divides by '
                         f'log2 d), got shape {tuple(x.shape)}.')
    if not isinstance(weights, Tensor) or tuple(weights.shape) != tuple(x.shape[:2]):
        shape = tuple(weights.shape) if isinstance(weights, Tensor) else type(weights).__name__
        raise ValueError(f'adaptive_channel_dropout expects weights of shape B x d = '
                         f'{tuple(x.shape[:2])} (one attention value per channel), got {shape}.')
    if not training:
        return x, torch.zeros((), device=x.device)
    rate = drop_rate(x, weights)
    mask_device = generator.device if generator is not None else x.device
    noise = torch.rand(x.shape[:2], generator=generator, device=mask_device).to(x.device)
    # p = 1 keeps nothing (noise < 1): 0 / tiny = 0, never 0 / 0.
    scale = (1.0 - rate).clamp_min(torch.finfo(rate.dtype).tiny).reciprocal()
    keep = torch.where(noise >= rate, scale, torch.zeros_like(scale)).to(x.dtype)
    return x * keep.view(*x.shape[:2], *([1] * (x.dim() - 2))), rate


class AdaptiveChannelDropout(nn.Module):
    """Module form of :func:`adaptive_channel_dropout`; active in training mode only.

    Attributes:
        last_drop_rate (float): The rate p of the last training forward (read from the device
            when accessed).
    """

    def __init__(self):
        super().__init__()
        self.register_buffer('_last_drop_rate', torch.zeros(()), persistent=False)

    @property
    def last_drop_rate(self) -> float:
        """The rate p of the last training forward."""
        return float(self._last_drop_rate)

    def forward(self,
                x: Tensor,
                weights: Tensor,
                generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
        """``B x d x H x W`` features and ``B x d`` weights -> (features, rate)."""
        out, rate = adaptive_channel_dropout(x, weights, self.training, generator)
        if self.training:
            self._last_drop_rate.copy_(rate.detach())
        return out, rate
