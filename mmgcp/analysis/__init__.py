# Copyright (c) mmgcp contributors. All rights reserved.
"""Optimization analysis in plain PyTorch: loss landscape and gradient predictiveness along an
activation's gradient, filter-normalised loss curves and the top Hessian eigenvalue.

The modules imported here need torch alone. Two modules adapt them and are imported by name:
:mod:`mmgcp.analysis.flatness` (flatness of a checkpoint of an mmengine model, which needs
mmengine) and :mod:`mmgcp.analysis.landscape_bands` (the bands logged by
:class:`mmgcp.engine.LossLandscapeHook`); ``tools/analysis/`` are their command lines.
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
