# Copyright (c) mmgcp contributors. All rights reserved.
"""The GCP math: covariance, iSQRT, matrix power, triangle vectorisation and DropCov.

Plain PyTorch, no OpenMMLab import: every model of mmgcp is built on these functions.
"""
from .covariance import Covariance, CrossCovariance, covariance, cross_covariance
from .dropcov import AdaptiveChannelDropout, adaptive_channel_dropout, drop_rate
from .isqrt import ISQRT_EPS, CovarianceISqrt, ISqrt, covariance_isqrt, isqrt
from .matrix_power import (
    EIGH_DEVICES,
    MATRIX_POWER_EPS,
    MatrixPower,
    matrix_power,
    power_divided_differences,
)
from .nonfinite import (
    NONFINITE_MODES,
    NonFiniteError,
    NonFiniteRecord,
    count_skipped_samples,
    current_record,
    eager_nonfinite_checks,
    format_indices,
    handle_nonfinite,
    nonfinite_mask,
    nonfinite_samples,
    num_skipped_samples,
    reset_num_skipped_samples,
)
from .padding import (
    feature_stride,
    fill_padding_with_mean,
    valid_feature_size,
    valid_position_mask,
)
from .triu import TriuVectorize, triu_flat_indices, triu_unvectorize, triu_vectorize

__all__ = [
    'covariance', 'cross_covariance', 'isqrt', 'covariance_isqrt', 'matrix_power',
    'triu_vectorize', 'triu_unvectorize', 'adaptive_channel_dropout', 'drop_rate',
    'power_divided_differences', 'triu_flat_indices', 'Covariance', 'CrossCovariance', 'ISqrt',
    'CovarianceISqrt', 'MatrixPower', 'TriuVectorize', 'AdaptiveChannelDropout',
    'NonFiniteError', 'NONFINITE_MODES', 'handle_nonfinite', 'nonfinite_samples',
    'nonfinite_mask', 'NonFiniteRecord', 'current_record', 'eager_nonfinite_checks',
    'count_skipped_samples', 'format_indices', 'num_skipped_samples',
    'reset_num_skipped_samples', 'ISQRT_EPS', 'MATRIX_POWER_EPS', 'EIGH_DEVICES',
    'feature_stride', 'valid_feature_size', 'valid_position_mask', 'fill_padding_with_mean'
]
