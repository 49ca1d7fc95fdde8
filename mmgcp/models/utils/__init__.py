# Copyright (c) mmgcp contributors. All rights reserved.
from .pretrained_checked import PretrainedChecked, check_checkpoint_exists, resize_pos_embed
from .second_order import COV_NORMS, check_cov_norm, normalized_covariance

__all__ = [
    'PretrainedChecked', 'check_checkpoint_exists', 'resize_pos_embed', 'COV_NORMS',
    'check_cov_norm', 'normalized_covariance'
]
