# Copyright (c) mmgcp contributors. All rights reserved.
"""Loss landscape and gradient predictiveness along the gradient of an activation.

The protocol of Santurkar et al. (2018), used by the TPAMI GCP paper: at an intermediate activation
``y`` with gradient ``g = dL/dy``, step along ``g`` with sizes ``eta_1..eta_n`` and record
``loss_i = L(y + eta_i g)`` and ``grad_diff_i = ||dL/dy(y + eta_i g) - g||_2`` (raw, not divided by
``eta_i``). A narrow range of ``loss_i`` means a smoother (more Lipschitz) loss, a narrow range of
``grad_diff_i`` more predictive gradients.
"""
from typing import Callable, List, NamedTuple, Optional, Sequence, Tuple

import torch


class LandscapeProbe(NamedTuple):
    """Result of :func:`probe_landscape`; every field is a float64 CPU tensor.

    Attributes:
        etas (Tensor): Step sizes, shape (n,).
        losses (Tensor): ``L(y + eta_i g)``, shape (n,).
        grad_diffs (Tensor): ``||dL/dy(y + eta_i g) - g||_2``, shape (n,).
        loss (Tensor): ``L(y)``, shape ().
        grad_norm (Tensor): ``||g||_2``, shape ().
    """
    etas: torch.Tensor
    losses: torch.Tensor
    grad_diffs: torch.Tensor
    loss: torch.Tensor
    grad_norm: torch.Tensor


def linear_etas(eta_range: Sequence[float] = (0.1, 75.0), num_steps: int = 50) -> List[float]:
    """Step sizes evenly spaced over ``eta_range``, both ends included.

    Args:
        eta_range (Sequence[float]): ``(first, last)``. Defaults to ``(0.1, 75.0)``, the
            paper's range for ResNets (``(0.045, 1.5)`` for MobileNetV2).
        num_steps (int): Number of step sizes. Defaults to 50.

    Returns:
        list[float]: ``num_steps`` step sizes.
    """
    if len(eta_range) != 2 or not 0 < eta_range[0] <= eta_range[1]:
        raise ValueError(f'eta_range must be (first, last) with 0 < first <= last, got '
                         f'{eta_range!r}; the paper uses (0.1, 75) for ResNets.')
    if num_steps < 1:
        raise ValueError(f'num_steps must be at least 1, got {num_steps}.')
    return torch.linspace(eta_range[0], eta_range[1], num_steps, dtype=torch.float64).tolist()


def loss_and_activation_grad(loss_fn: Callable[[torch.Tensor], torch.Tensor],
                             activation: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Loss at an activation and its gradient with respect to that activation.

    Only the activation is differentiated (:func:`torch.autograd.grad`): no parameter's ``.grad``
    is touched.

    Args:
        loss_fn (Callable): Maps an activation (any shape) to a scalar loss.
        activation (Tensor): The activation ``y``.

    Returns:
        tuple[Tensor, Tensor]: The detached loss (shape ()) and ``dL/dy`` (shape of ``y``).
    """
    leaf = activation.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = loss_fn(leaf)
        if loss.dim() != 0:
            raise ValueError(f'loss_fn must return a scalar, got shape {tuple(loss.shape)}.')
        if not loss.requires_grad:
            raise ValueError('The loss does not depend on the activation: check that the split '
                             'point lies on the path from the input to the loss.')
        grad, = torch.autograd.grad(loss, leaf)
    return loss.detach(), grad


def probe_landscape(loss_fn: Callable[[torch.Tensor], torch.Tensor],
                    activation: torch.Tensor,
                    etas: Sequence[float],
                    before_eval: Optional[Callable[[], None]] = None) -> LandscapeProbe:
    """Loss and gradient change along the gradient direction of an activation.

    Args:
        loss_fn (Callable): Maps an activation ``y`` (shape of ``activation``) to the scalar loss
            ``L(y)`` of the rest of the network.
        activation (Tensor): The activation ``y`` at the split point, any shape.
        etas (Sequence[float]): Step sizes ``eta_i``; see :func:`linear_etas`.
        before_eval (Callable, optional): Called before every evaluation of ``loss_fn`` (the
            base one included), e.g. to reset the random generator so that every evaluation sees
            the same dropout masks. Defaults to None.

    Returns:
        LandscapeProbe: ``losses`` and ``grad_diffs`` of shape (len(etas),), plus ``L(y)`` and
        ``||g||``.
    """
    def evaluate(y: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if before_eval is not None:
            before_eval()
        return loss_and_activation_grad(loss_fn, y)

    y = activation.detach()
    loss, grad = evaluate(y)
    losses, grad_diffs = [], []
    for eta in etas:
        step_loss, step_grad = evaluate(y + eta * grad)
        losses.append(step_loss.double())
        grad_diffs.append((step_grad - grad).double().norm())
    as_cpu = dict(dtype=torch.float64, device='cpu')
    return LandscapeProbe(
        etas=torch.tensor(list(etas), **as_cpu),
        losses=torch.stack(losses).to(**as_cpu) if losses else torch.zeros(0, **as_cpu),
        grad_diffs=torch.stack(grad_diffs).to(**as_cpu) if losses else torch.zeros(0, **as_cpu),
        loss=loss.to(**as_cpu),
        grad_norm=grad.double().norm().to(**as_cpu))
