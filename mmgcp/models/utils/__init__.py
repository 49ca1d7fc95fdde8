# Copyright (c) mmgcp contributors. All rights reserved.
from .batch_padding import (
    BatchPadding,
    current_padding,
    current_valid_mask,
    padding_from_metas,
    padding_scope,
)
from .checks import check_rates
from .covariance_reduction import CovarianceReductionMixin
from .eca import ECA
from .pretrained_checked import PretrainedChecked, check_checkpoint_exists, resize_pos_embed
from .second_order import (
    MATRIX_POST_NORMS,
    POST_NORMS,
    PRE_NORMS,
    check_norm,
    normalized_covariance,
    signed_sqrt_l2,
)

__all__ = [
    'PretrainedChecked', 'check_checkpoint_exists', 'resize_pos_embed', 'ECA', 'POST_NORMS',
    'MATRIX_POST_NORMS', 'PRE_NORMS', 'check_norm', 'normalized_covariance', 'signed_sqrt_l2',
    'check_rates', 'CovarianceReductionMixin', 'BatchPadding', 'current_padding',
    'current_valid_mask', 'padding_from_metas', 'padding_scope'
]
