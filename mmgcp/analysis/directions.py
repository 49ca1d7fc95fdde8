# Copyright (c) mmgcp contributors. All rights reserved.
"""Filter-normalised random directions in weight space (Li et al., NeurIPS 2018).

A random direction is only comparable across networks once its scale matches the weights it
perturbs: each filter (output slice) of a random Gaussian direction is rescaled to the norm of the
corresponding filter of the weights, which cancels the scale invariance that BatchNorm gives
conv and linear layers.
"""
from typing import List, Optional, Sequence

import torch


def filter_normalized_direction(params: Sequence[torch.Tensor],
                                generator: Optional[torch.Generator] = None,
                                ignore_1d: bool = True) -> List[torch.Tensor]:
    """A random direction with every filter scaled to the norm of the matching weight filter.

    Args:
        params (Sequence[Tensor]): The weights, any shapes. Tensors with two or more dimensions
            are treated as ``out x ...`` (a filter is one slice along dim 0).
        generator (torch.Generator, optional): CPU generator for reproducible directions.
            Defaults to None (the global one).
        ignore_1d (bool): Whether one-dimensional tensors (biases, BatchNorm affine weights) get
            a zero direction, as in Li et al.; otherwise their direction is a copy of the weights.
            Defaults to True.

    Returns:
        list[Tensor]: One direction per tensor of ``params``, same shapes, dtypes and devices.
    """
    direction = []
    for weight in params:
        weight = weight.detach()
        if weight.dim() <= 1:
            direction.append(torch.zeros_like(weight) if ignore_1d else weight.clone())
            continue
        rand = torch.randn(weight.shape, generator=generator, dtype=torch.float64)
        rand = rand.to(device=weight.device)
        filters = rand.flatten(1)
        weight_norms = weight.double().flatten(1).norm(dim=1, keepdim=True)
        filters = filters * weight_norms / filters.norm(dim=1, keepdim=True).clamp_min(1e-12)
        direction.append(filters.view_as(weight).to(weight.dtype))
    return direction
