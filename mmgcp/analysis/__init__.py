# Copyright (c) mmgcp contributors. All rights reserved.
"""Optimization analysis in plain PyTorch: loss landscape and gradient predictiveness along an
activation's gradient, filter-normalised loss curves and the top Hessian eigenvalue.

No OpenMMLab import here: :class:`mmgcp.engine.LossLandscapeHook` and ``tools/analysis/`` adapt
these functions to mmengine models.
"""
from .directions import filter_normalized_direction
from .hessian import (
    PowerIterationResult,
    differentiable_custom_functions,
    finite_difference_hvp,
    hessian_vector_product,
    top_hessian_eigenvalue,
)
from .landscape import LandscapeProbe, linear_etas, loss_and_activation_grad, probe_landscape
from .loss_surface import loss_curve_1d, loss_on_plane, loss_surface_2d
from .training_state import capture_rng_state, preserved_training_state, restore_rng_state

__all__ = [
    'LandscapeProbe', 'linear_etas', 'loss_and_activation_grad', 'probe_landscape',
    'filter_normalized_direction', 'loss_on_plane', 'loss_curve_1d', 'loss_surface_2d',
    'PowerIterationResult', 'hessian_vector_product', 'finite_difference_hvp',
    'top_hessian_eigenvalue', 'differentiable_custom_functions',
    'capture_rng_state', 'restore_rng_state', 'preserved_training_state'
]
