# Copyright (c) mmgcp contributors. All rights reserved.
"""The GCP reduction and the normalised covariance of its output, as one piece of every module.

:class:`GCPNeck`, :class:`CovAttentionNeck` and :class:`CovUPerHead` all reduce a feature map
with a 1x1 convolution, a norm layer and an activation (``reduction.conv``, ``reduction.bn``:
the key names of a converted GCP classifier, so its reduction loads into the detection neck and
the segmentation head) and normalise the covariance of the result. This mixin builds that part
once, with one set of argument checks, the non-finite record the operators report to and the
optional ``reduction_init_cfg``.
"""
from typing import Optional, Sequence

import torch
from mmcv.cnn import ConvModule
from mmengine.model.weight_init import initialize

from mmgcp.ops import NonFiniteRecord

from .second_order import MATRIX_POST_NORMS, check_norm, normalized_covariance


class CovarianceReductionMixin:
    """Builds ``reduction`` and computes the normalised covariance of reduced features.

    Mix it in before an ``nn.Module`` base (``class Neck(CovarianceReductionMixin,
    BaseModule)``) and call :meth:`init_covariance_reduction` in ``__init__`` after the base's.
    """

    def init_covariance_reduction(self,
                                  in_channels: int,
                                  reduced_channels: Optional[int],
                                  post_norm: str,
                                  num_iters: int,
                                  alpha: float,
                                  norm_cfg: Optional[dict],
                                  act_cfg: Optional[dict],
                                  post_norms: Sequence[str] = MATRIX_POST_NORMS,
                                  nonfinite: str = 'raise',
                                  reduction_init_cfg: Optional[dict] = None) -> None:
        """Check the arguments, store them and build the reduction.

        Args:
            in_channels (int): Channels of the reduced feature map.
            reduced_channels (int, optional): Channels ``d`` after the reduction; None builds
                none (the covariance of the input itself).
            post_norm (str): One of ``post_norms``.
            num_iters (int): Newton-Schulz iterations of ``'isqrt'`` (>= 1).
            alpha (float): Exponent of ``'power'``.
            norm_cfg (dict, optional): Norm layer of the reduction.
            act_cfg (dict, optional): Activation of the reduction.
            post_norms (Sequence[str]): The post-normalisations the module accepts. Defaults to
                :data:`MATRIX_POST_NORMS`.
            nonfinite (str): Policy of the non-finite record, ``'raise'`` or ``'skip'``.
                Defaults to ``'raise'``.
            reduction_init_cfg (dict, optional): Initialisation of the reduction alone, applied
                after ``init_cfg`` by :meth:`init_weights`. Defaults to None.
        """
        check_norm('post_norm', post_norm, post_norms)
        if isinstance(num_iters, bool) or not isinstance(num_iters, int) or num_iters < 1:
            raise ValueError(f'num_iters must be an integer >= 1 (5 in every published model), '
                             f'got {num_iters!r}.')
        self.reduced_channels = reduced_channels
        self.post_norm = post_norm
        self.num_iters = num_iters
        self.alpha = alpha
        self.reduction_init_cfg = reduction_init_cfg
        # NaN/Inf seen by the covariance ops, recorded on the device (mmgcp.NonFiniteCheckHook).
        self.nonfinite_record = NonFiniteRecord(nonfinite)
        if reduced_channels is not None:
            self.reduction = ConvModule(
                in_channels, reduced_channels, 1, bias=False, norm_cfg=norm_cfg, act_cfg=act_cfg)

    def init_weights(self) -> None:
        """Apply ``init_cfg``, then ``reduction_init_cfg`` to the reduction."""
        super().init_weights()
        if self.reduction_init_cfg is not None:
            initialize(self.reduction, self.reduction_init_cfg)

    def reduced_covariance(self,
                           reduced: torch.Tensor,
                           valid_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The normalised covariance of reduced features, reported to ``nonfinite_record``.

        Args:
            reduced (torch.Tensor): B x d x H x W, the output of ``reduction``.
            valid_mask (torch.Tensor, optional): B x H x W, True on each image's positions of a
                padded batch (:func:`normalized_covariance`). Defaults to None.

        Returns:
            torch.Tensor: B x d x d, float32 (also under autocast).
        """
        with self.nonfinite_record.scope():
            return normalized_covariance(reduced, self.post_norm, self.num_iters, self.alpha,
                                         valid_mask)
