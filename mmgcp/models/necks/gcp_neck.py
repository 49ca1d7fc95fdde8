# Copyright (c) mmgcp contributors. All rights reserved.
from typing import Optional, Tuple, Union

import torch
from mmengine.model import BaseModule

from mmgcp.models.utils import (
    ECA,
    POST_NORMS,
    PRE_NORMS,
    CovarianceReductionMixin,
    check_norm,
    normalized_covariance,
    signed_sqrt_l2,
)
from mmgcp.ops import (
    adaptive_channel_dropout,
    handle_nonfinite,
    nonfinite_mask,
    nonfinite_samples,
    triu_vectorize,
)
from mmgcp.ops._utils import autocast_disabled, to_compute_dtype
from mmgcp.registry import MODELS


@MODELS.register_module()
class GCPNeck(CovarianceReductionMixin, BaseModule):
    """Global covariance pooling neck for CNN feature maps.

    ``x -> [1x1 conv, BN, act] -> pre-normalisation -> covariance -> post-normalisation ->
    upper triangle`` (docs/math.md), as in iSQRT-COV (``post_norm='isqrt'``), MPN-COV
    (``'power'``) and DropCov (``pre_norm='dropcov', post_norm='none'``, or
    :class:`DropCovNeck`). Use it with a backbone whose last stage keeps stride 1
    (``strides=(1, 2, 2, 1)`` for mmpretrain's ResNet) and with
    ``LinearClsHead(in_channels=d * (d + 1) // 2)``.

    Args:
        in_channels (int): Channels of the backbone's last feature map.
        reduced_channels (int, optional): Channels ``d`` after the 1x1 reduction. None keeps
            ``in_channels`` and builds no reduction layer. Defaults to 256.
        pre_norm (str): What acts on the reduced features before the covariance, in training
            only: ``'none'`` or ``'dropcov'`` (ECA channel attention, then adaptive channel
            dropout). Defaults to ``'none'``.
        post_norm (str): Normalisation of the covariance: ``'isqrt'`` (Newton-Schulz square
            root), ``'power'`` (exact matrix power), ``'signed_sqrt_l2'`` (element-wise signed
            square root then L2 on the vector) or ``'none'``. Defaults to ``'isqrt'``.
        num_iters (int): Newton-Schulz iterations of ``'isqrt'``. Defaults to 5.
        alpha (float): Exponent of ``'power'``. Defaults to 0.5.
        attention_kernel (int): Kernel size of the ECA attention of ``pre_norm='dropcov'``.
            Defaults to 3.
        norm_cfg (dict): Norm layer of the reduction. Defaults to ``dict(type='BN')``.
        act_cfg (dict): Activation of the reduction (``ReLU6`` for MobileNetV2).
            Defaults to ``dict(type='ReLU')``.
        nonfinite (str): ``'raise'`` stops on NaN/Inf features with the batch index;
            ``'skip'`` zeroes those samples and counts them. Defaults to ``'raise'``. Under
            ``mmgcp.NonFiniteCheckHook`` the check is recorded on the device
            (``nonfinite_record``) and reported by the hook after the iteration, without a host
            sync in the forward; otherwise it is checked at once.
        fp32_reduction (bool): Run the 1x1 reduction in float32 also under autocast (fp16 or
            bf16 inputs are promoted), so that the whole neck matches float32 to about 1e-4;
            a bf16 reduction alone is off by about 5e-3 (its 8-bit mantissa). The reduction is
            a small share of a backbone's cost. False lets autocast run it in half precision.
            Defaults to True.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 reduced_channels: Optional[int] = 256,
                 pre_norm: str = 'none',
                 post_norm: str = 'isqrt',
                 num_iters: int = 5,
                 alpha: float = 0.5,
                 attention_kernel: int = 3,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 nonfinite: str = 'raise',
                 fp32_reduction: bool = True,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        check_norm('pre_norm', pre_norm, PRE_NORMS)
        if nonfinite not in ('raise', 'skip'):
            raise ValueError(f"nonfinite='{nonfinite}' must be 'raise' or 'skip'.")
        self.init_covariance_reduction(
            in_channels, reduced_channels, post_norm, num_iters, alpha, norm_cfg, act_cfg,
            post_norms=POST_NORMS, nonfinite=nonfinite)
        self.in_channels = in_channels
        self.pre_norm = pre_norm
        self.nonfinite = nonfinite
        self.fp32_reduction = fp32_reduction
        self.num_skipped = 0
        # A tensor, so that the forward never waits for the device to turn it into a float.
        self.register_buffer('_last_drop_rate', torch.zeros(()), persistent=False)
        self.attention = ECA(attention_kernel) if pre_norm == 'dropcov' else None

    @property
    def last_drop_rate(self) -> float:
        """DropCov's rate p of the last training forward (read from the device when accessed)."""
        return float(self._last_drop_rate)

    @property
    def out_channels(self) -> int:
        """Length d(d+1)/2 of the output vector."""
        d = self.reduced_channels or self.in_channels
        return d * (d + 1) // 2

    def _dropcov(self, x: torch.Tensor) -> torch.Tensor:
        """DropCov's pre-normalisation of the reduced features (training only)."""
        weights = self.attention(x)
        x = x * weights[:, :, None, None] + x
        x, rate = adaptive_channel_dropout(x, weights, training=True)
        self._last_drop_rate.copy_(rate)
        return x

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
            if self.reduced_channels is not None and self.fp32_reduction:
                with autocast_disabled(x.device.type):
                    x = self.reduction(to_compute_dtype(x, 'GCPNeck', 'inputs'))
            elif self.reduced_channels is not None:
                x = self.reduction(x)
            if self.attention is not None and self.training:
                x = self._dropcov(x)
            vector_norm = self.post_norm == 'signed_sqrt_l2'
            matrix = normalized_covariance(x, 'none' if vector_norm else self.post_norm,
                                           self.num_iters, self.alpha)
            vec = triu_vectorize(matrix)
            if vector_norm:
                vec = signed_sqrt_l2(vec)
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
    """DropCov: adaptive channel dropout before the covariance replaces post-normalisation
    (NeurIPS'22); ``GCPNeck(pre_norm='dropcov', post_norm='none')``.

    Training: ECA channel attention -> adaptive channel dropout -> covariance -> upper triangle.
    Inference: covariance -> upper triangle, free of extra cost.

    Args:
        in_channels (int): Channels of the backbone's last feature map.
        reduced_channels (int, optional): Channels after the 1x1 reduction. Defaults to 256.
        **kwargs: Other arguments of :class:`GCPNeck` except ``pre_norm`` and ``post_norm``.
    """

    def __init__(self, in_channels: int, reduced_channels: Optional[int] = 256, **kwargs):
        for key, value in (('pre_norm', 'dropcov'), ('post_norm', 'none')):
            given = kwargs.pop(key, value)
            if given != value:
                raise ValueError(
                    f"DropCovNeck always uses pre_norm='dropcov' and post_norm='none', got "
                    f"{key}={given!r}; use GCPNeck(pre_norm=..., post_norm=...) for others.")
        super().__init__(in_channels, reduced_channels, pre_norm='dropcov', post_norm='none',
                         **kwargs)
