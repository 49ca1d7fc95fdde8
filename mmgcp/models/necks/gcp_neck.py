# Copyright (c) mmgcp contributors. All rights reserved.
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule

from mmgcp.ops import (
    NonFiniteRecord,
    adaptive_channel_dropout,
    covariance,
    covariance_isqrt,
    handle_nonfinite,
    matrix_power,
    nonfinite_mask,
    nonfinite_samples,
    triu_vectorize,
)
from mmgcp.registry import MODELS

POST_NORMS = ('isqrt', 'power', 'dropcov', 'signed_sqrt_l2', 'none')


class ChannelAttention1d(nn.Module):
    """DropCov's channel attention: GAP -> Conv1d(1, 1, k) across channels -> softmax.

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


@MODELS.register_module()
class GCPNeck(BaseModule):
    """Global covariance pooling neck for CNN feature maps.

    ``x -> [1x1 conv, BN, act] -> covariance -> post-normalisation -> upper triangle``, as in
    iSQRT-COV (``post_norm='isqrt'``), MPN-COV (``'power'``) and DropCov (``'dropcov'``). Use it
    with a backbone whose last stage keeps stride 1 (``strides=(1, 2, 2, 1)`` for mmpretrain's
    ResNet) and with ``LinearClsHead(in_channels=d * (d + 1) // 2)``.

    Args:
        in_channels (int): Channels of the backbone's last feature map.
        reduced_channels (int, optional): Channels ``d`` after the 1x1 reduction. None keeps
            ``in_channels`` and builds no reduction layer. Defaults to 256.
        post_norm (str): Normalisation of the covariance: ``'isqrt'`` (Newton-Schulz square root),
            ``'power'`` (exact matrix power), ``'dropcov'`` (adaptive channel dropout before the
            covariance, training only, no normalisation), ``'signed_sqrt_l2'`` (element-wise
            signed square root then L2 on the vector) or ``'none'``. Defaults to ``'isqrt'``.
        num_iters (int): Newton-Schulz iterations of ``'isqrt'``. Defaults to 5.
        alpha (float): Exponent of ``'power'``. Defaults to 0.5.
        attention_kernel (int): Kernel size of DropCov's channel attention. Defaults to 3.
        norm_cfg (dict): Norm layer of the reduction. Defaults to ``dict(type='BN')``.
        act_cfg (dict): Activation of the reduction (``ReLU6`` for MobileNetV2).
            Defaults to ``dict(type='ReLU')``.
        nonfinite (str): ``'raise'`` stops on NaN/Inf features with the batch index;
            ``'skip'`` zeroes those samples and counts them. Defaults to ``'raise'``. Under
            ``mmgcp.NonFiniteCheckHook`` the check is recorded on the device
            (``nonfinite_record``) and reported by the hook after the iteration, without a host
            sync in the forward; otherwise it is checked at once.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 reduced_channels: Optional[int] = 256,
                 post_norm: str = 'isqrt',
                 num_iters: int = 5,
                 alpha: float = 0.5,
                 attention_kernel: int = 3,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 nonfinite: str = 'raise',
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if post_norm not in POST_NORMS:
            raise ValueError(f"post_norm='{post_norm}' is not supported; choose one of "
                             f'{POST_NORMS}.')
        if nonfinite not in ('raise', 'skip'):
            raise ValueError(f"nonfinite='{nonfinite}' must be 'raise' or 'skip'.")
        if num_iters < 1:
            raise ValueError(f'num_iters must be >= 1, got {num_iters}.')
        self.in_channels = in_channels
        self.reduced_channels = reduced_channels
        self.post_norm = post_norm
        self.num_iters = num_iters
        self.alpha = alpha
        self.nonfinite = nonfinite
        self.num_skipped = 0
        self.nonfinite_record = NonFiniteRecord(nonfinite)
        # A tensor, so that the forward never waits for the device to turn it into a float.
        self.register_buffer('_last_drop_rate', torch.zeros(()), persistent=False)
        if reduced_channels is not None:
            self.reduction = ConvModule(
                in_channels, reduced_channels, 1, bias=False, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.attention = ChannelAttention1d(attention_kernel) if post_norm == 'dropcov' else None

    @property
    def last_drop_rate(self) -> float:
        """DropCov's rate p of the last training forward (read from the device when accessed)."""
        return float(self._last_drop_rate)

    @property
    def out_channels(self) -> int:
        """Length d(d+1)/2 of the output vector."""
        d = self.reduced_channels or self.in_channels
        return d * (d + 1) // 2

    def _pooled_matrix(self, x: torch.Tensor) -> torch.Tensor:
        """Reduced features B x d x H x W -> normalised covariance B x d x d."""
        if self.post_norm == 'isqrt':
            # Fused op: cheaper than isqrt(covariance(x)) (Gram-matrix path when H*W < d).
            return covariance_isqrt(x, num_iters=self.num_iters)
        if self.attention is not None and self.training:
            weights = self.attention(x)
            x = x * weights[:, :, None, None] + x
            x, rate = adaptive_channel_dropout(x, weights, training=True)
            self._last_drop_rate.copy_(rate)
        sigma = covariance(x)
        if self.post_norm == 'power':
            return matrix_power(sigma, alpha=self.alpha)
        return sigma

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """Pool one feature map.

        Args:
            x (torch.Tensor): Features, B x C x H x W.

        Returns:
            torch.Tensor: B x d(d+1)/2 vectors.
        """
        if x.dim() != 4 or x.size(1) != self.in_channels:
            raise ValueError(f'GCPNeck expects B x {self.in_channels} x H x W features, got '
                             f'{tuple(x.shape)}; set in_channels to the backbone\'s channels.')
        with self.nonfinite_record.scope():
            deferred = self.nonfinite_record.deferred
            # Checked before the reduction: in training, BN would spread one bad sample's NaN
            # to the whole batch.
            bad = nonfinite_mask(x) if deferred else nonfinite_samples(x)
            x, num_bad = handle_nonfinite(x, 'GCPNeck', self.nonfinite, bad=bad)
            self.num_skipped += num_bad
            if self.reduced_channels is not None:
                x = self.reduction(x)
            vec = triu_vectorize(self._pooled_matrix(x))
            if self.post_norm == 'signed_sqrt_l2':
                vec = F.normalize(vec.sign() * vec.abs().add(1e-12).sqrt(), dim=1)
            # skipped samples pool to zeros, whatever the reduction made of them
            if deferred and self.nonfinite == 'skip':
                vec = torch.where(bad[:, None], torch.zeros((), dtype=vec.dtype,
                                                            device=vec.device), vec)
            elif num_bad:
                vec = vec.masked_fill(bad[:, None], 0)
        return vec

    def forward(self, inputs: Union[torch.Tensor, Tuple[torch.Tensor, ...]]) -> tuple:
        """Pool the last feature map of the backbone.

        Args:
            inputs (Tensor | tuple[Tensor]): The backbone output(s); the last one is pooled.

        Returns:
            tuple[torch.Tensor]: One tensor of shape B x d(d+1)/2.
        """
        if isinstance(inputs, (tuple, list)):
            inputs = inputs[-1]
        elif not isinstance(inputs, torch.Tensor):
            raise TypeError(f'GCPNeck inputs must be a tensor or a tuple, got {type(inputs)}.')
        return (self.pool(inputs), )


@MODELS.register_module()
class DropCovNeck(GCPNeck):
    """DropCov: adaptive channel dropout replaces post-normalisation (NeurIPS'22).

    Training: channel attention -> adaptive channel dropout -> covariance -> upper triangle.
    Inference: covariance -> upper triangle, free of extra cost. Same as
    ``GCPNeck(post_norm='dropcov')``.

    Args:
        in_channels (int): Channels of the backbone's last feature map.
        reduced_channels (int, optional): Channels after the 1x1 reduction. Defaults to 256.
        **kwargs: Other arguments of :class:`GCPNeck` except ``post_norm``.
    """

    def __init__(self, in_channels: int, reduced_channels: Optional[int] = 256, **kwargs):
        if kwargs.pop('post_norm', 'dropcov') != 'dropcov':
            raise ValueError('DropCovNeck always uses post_norm="dropcov"; use GCPNeck for others.')
        super().__init__(in_channels, reduced_channels, post_norm='dropcov', **kwargs)
