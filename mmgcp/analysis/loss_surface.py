# Copyright (c) mmgcp contributors. All rights reserved.
"""Loss of a model along one or two directions in weight space: ``L(w + a d1 + b d2)``."""
from typing import Callable, Sequence

import torch


def loss_on_plane(loss_fn: Callable[[], torch.Tensor],
                  params: Sequence[torch.Tensor],
                  directions: Sequence[Sequence[torch.Tensor]],
                  coords: torch.Tensor) -> torch.Tensor:
    """Evaluate ``loss_fn`` at ``w + sum_k coords[p, k] * directions[k]`` for every row ``p``.

    The parameters are changed in place for each evaluation and put back afterwards, also when
    ``loss_fn`` raises.

    Args:
        loss_fn (Callable): No arguments, returns the scalar loss at the current parameters.
        params (Sequence[Tensor]): The parameters ``w`` (``nn.Parameter`` or tensors) that
            ``loss_fn`` reads.
        directions (Sequence[Sequence[Tensor]]): ``k`` directions, each a list shaped like
            ``params`` (see :func:`filter_normalized_direction`).
        coords (Tensor): Coordinates, shape (P, k).

    Returns:
        Tensor: Losses, float64, shape (P,).
    """
    coords = torch.as_tensor(coords, dtype=torch.float64)
    if coords.dim() != 2 or coords.shape[1] != len(directions):
        raise ValueError(f'coords must have shape (P, {len(directions)}) for {len(directions)} '
                         f'directions, got {tuple(coords.shape)}.')
    for direction in directions:
        if len(direction) != len(params):
            raise ValueError(f'Every direction needs one tensor per parameter ({len(params)}), '
                             f'got {len(direction)}.')
    origin = [p.detach().clone() for p in params]
    losses = []
    try:
        for point in coords.tolist():
            with torch.no_grad():
                for i, p in enumerate(params):
                    offset = sum(c * d[i] for c, d in zip(point, directions))
                    p.copy_(origin[i] + offset)
            losses.append(float(loss_fn()))
    finally:
        with torch.no_grad():
            for p, w in zip(params, origin):
                p.copy_(w)
    return torch.tensor(losses, dtype=torch.float64)


def loss_curve_1d(loss_fn: Callable[[], torch.Tensor], params: Sequence[torch.Tensor],
                  direction: Sequence[torch.Tensor], alphas: Sequence[float]) -> torch.Tensor:
    """``L(w + alpha d)`` for every ``alpha``.

    Args:
        loss_fn (Callable): No arguments, returns the scalar loss at the current parameters.
        params (Sequence[Tensor]): The parameters ``w``.
        direction (Sequence[Tensor]): ``d``, shaped like ``params``.
        alphas (Sequence[float]): Coordinates along ``d``, shape (n,).

    Returns:
        Tensor: Losses, float64, shape (n,).
    """
    coords = torch.as_tensor(alphas, dtype=torch.float64).reshape(-1, 1)
    return loss_on_plane(loss_fn, params, [direction], coords)


def loss_surface_2d(loss_fn: Callable[[], torch.Tensor], params: Sequence[torch.Tensor],
                    direction_x: Sequence[torch.Tensor], direction_y: Sequence[torch.Tensor],
                    alphas: Sequence[float], betas: Sequence[float]) -> torch.Tensor:
    """``L(w + alpha dx + beta dy)`` on the grid ``betas x alphas``.

    Args:
        loss_fn (Callable): No arguments, returns the scalar loss at the current parameters.
        params (Sequence[Tensor]): The parameters ``w``.
        direction_x (Sequence[Tensor]): ``dx``, shaped like ``params``.
        direction_y (Sequence[Tensor]): ``dy``, shaped like ``params``.
        alphas (Sequence[float]): Coordinates along ``dx``, shape (nx,).
        betas (Sequence[float]): Coordinates along ``dy``, shape (ny,).

    Returns:
        Tensor: Losses, float64, shape (ny, nx): row ``j`` is ``beta_j``, column ``i`` is
        ``alpha_i`` (the layout of ``matplotlib``'s ``contour(alphas, betas, Z)``).
    """
    alphas = torch.as_tensor(alphas, dtype=torch.float64)
    betas = torch.as_tensor(betas, dtype=torch.float64)
    grid_b, grid_a = torch.meshgrid(betas, alphas, indexing='ij')
    coords = torch.stack([grid_a.flatten(), grid_b.flatten()], dim=1)
    losses = loss_on_plane(loss_fn, params, [direction_x, direction_y], coords)
    return losses.view(len(betas), len(alphas))

