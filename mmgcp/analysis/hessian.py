# Copyright (c) mmgcp contributors. All rights reserved.
"""Top Hessian eigenvalue of a loss by power iteration on Hessian-vector products.

The Hessian is never formed: ``H v`` is the gradient of ``<grad L, v>`` (Pearlmutter's trick, a
double backward), or the central difference of two gradients. One iteration costs about two
training steps whatever the number of parameters.

mmgcp's covariance and iSQRT layers are custom autograd functions whose hand-written backward is
``once_differentiable``. Inside :func:`differentiable_custom_functions` their forward runs under
autograd instead, which differentiates it twice exactly; central differences are the fallback,
but they are biased on ReLU networks (a step that crosses a kink changes the gradient abruptly).
"""
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator, List, NamedTuple, Optional, Sequence

import torch
from torch.autograd import Function

Tensors = List[torch.Tensor]


class PowerIterationResult(NamedTuple):
    """Result of :func:`top_hessian_eigenvalue`.

    Attributes:
        eigenvalue (float): The eigenvalue of largest magnitude: ``<v, H v>`` of the last
            unit-norm iterate ``v``.
        eigenvector (list[Tensor]): ``H v / ||H v||`` of that iterate (unit norm), shaped like the
            parameters.
        history (list[float]): The estimate after each iteration.
        converged (bool): Whether the relative change fell below ``tol``.
    """
    eigenvalue: float
    eigenvector: Tensors
    history: List[float]
    converged: bool


def hessian_vector_product(loss_fn: Callable[[], torch.Tensor], params: Sequence[torch.Tensor],
                           vector: Sequence[torch.Tensor]) -> Tensors:
    """``H v`` of ``loss_fn()`` with respect to ``params``, by double backward.

    Uses :func:`torch.autograd.grad` only: the ``.grad`` fields of ``params`` are left alone.
    Custom autograd functions with a ``once_differentiable`` backward either raise here or, when
    the gradient they receive is constant, silently drop their second-order terms: run those
    inside :func:`differentiable_custom_functions`.

    Args:
        loss_fn (Callable): No arguments, returns the scalar loss computed from ``params``.
        params (Sequence[Tensor]): Tensors that require grad.
        vector (Sequence[Tensor]): ``v``, shaped like ``params``.

    Returns:
        list[Tensor]: ``H v``, shaped like ``params``. Parameters the loss does not depend on get
        zeros.
    """
    params = list(params)
    with torch.enable_grad():
        loss = loss_fn()
        grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
        used = [i for i, g in enumerate(grads) if g is not None and g.requires_grad]
        hvp = [torch.zeros_like(p) for p in params]
        if used:
            products = torch.autograd.grad([grads[i] for i in used], [params[i] for i in used],
                                           grad_outputs=[vector[i] for i in used],
                                           allow_unused=True)
            for i, product in zip(used, products):
                if product is not None:
                    hvp[i] = product.detach()
    return hvp


def finite_difference_hvp(loss_fn: Callable[[], torch.Tensor],
                          params: Sequence[torch.Tensor],
                          vector: Sequence[torch.Tensor],
                          rel_step: float = 1e-3) -> Tensors:
    """``H v`` of ``loss_fn()`` by central differences of gradients.

    ``H v ~ (grad L(w + r v) - grad L(w - r v)) / 2r`` with ``r = rel_step * ||w|| / ||v||``: the
    step is a fixed fraction of the weight norm, so the approximation error is comparable across
    models. Works through any once-differentiable layer. The parameters are moved in place and put
    back (also on error); ``.grad`` fields are not touched.

    Args:
        loss_fn (Callable): No arguments, returns the scalar loss computed from ``params``.
        params (Sequence[Tensor]): Tensors that require grad (changed in place, then restored).
        vector (Sequence[Tensor]): ``v``, shaped like ``params``.
        rel_step (float): Step relative to the weight norm. Defaults to 1e-3.

    Returns:
        list[Tensor]: ``H v``, shaped like ``params``.
    """
    params = list(params)
    origin = [p.detach().clone() for p in params]
    vector_norm = float(_dot(vector, vector).sqrt())
    if vector_norm == 0:
        return [torch.zeros_like(p) for p in params]
    step = rel_step * max(float(_dot(origin, origin).sqrt()), 1e-12) / vector_norm

    def grad_at(sign: float) -> Tensors:
        with torch.no_grad():
            for p, w, v in zip(params, origin, vector):
                p.copy_(w + sign * step * v)
        with torch.enable_grad():
            grads = torch.autograd.grad(loss_fn(), params, allow_unused=True)
        return [torch.zeros_like(p) if g is None else g.detach() for p, g in zip(params, grads)]

    try:
        plus, minus = grad_at(1.0), grad_at(-1.0)
    finally:
        with torch.no_grad():
            for p, w in zip(params, origin):
                p.copy_(w)
    return [(gp - gm) / (2 * step) for gp, gm in zip(plus, minus)]


class _ForwardContext:
    """Stands in for ``ctx`` when a custom Function's forward runs as plain autograd code."""

    def __init__(self, args: Sequence[Any]):
        self.needs_input_grad = tuple(
            isinstance(a, torch.Tensor) and a.requires_grad for a in args)
        self.saved_tensors: tuple = ()

    def save_for_backward(self, *tensors: torch.Tensor) -> None:
        self.saved_tensors = tensors

    def mark_non_differentiable(self, *tensors: torch.Tensor) -> None:
        pass

    def mark_dirty(self, *tensors: torch.Tensor) -> None:
        pass

    def set_materialize_grads(self, value: bool) -> None:
        pass


def _apply_as_autograd(cls, *args: Any, **kwargs: Any) -> Any:
    if cls.setup_context is not Function.setup_context:  # new style: forward has no ctx
        return cls.forward(*args, **kwargs)
    return cls.forward(_ForwardContext(args), *args, **kwargs)


@contextmanager
def differentiable_custom_functions(module_prefix: str = 'mmgcp.') -> Iterator[List[type]]:
    """Run custom autograd Functions' forward under autograd, so they differentiate twice.

    Every subclass of :class:`torch.autograd.Function` defined in an imported module whose name
    starts with ``module_prefix`` gets, for the duration of the block, an ``apply`` that calls its
    ``forward`` directly with autograd recording: the hand-written (``once_differentiable``)
    backward is bypassed and autograd differentiates the forward's operations, to any order. The
    values are the same; the first derivatives equal the hand-written ones when those are
    correct (check them, e.g. by comparing gradients inside and outside the block). Costs more
    memory than the fused backward.

    Args:
        module_prefix (str): Which modules' Functions to switch. Defaults to ``'mmgcp.'``.

    Yields:
        list[type]: The switched Function classes.
    """
    classes = set()
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(module_prefix):
            continue
        for obj in list(vars(module).values()):
            if (isinstance(obj, type) and issubclass(obj, Function) and obj is not Function
                    and obj.__module__ == name and 'apply' not in vars(obj)):
                classes.add(obj)
    patched = sorted(classes, key=lambda cls: f'{cls.__module__}.{cls.__qualname__}')
    try:
        for cls in patched:
            cls.apply = classmethod(_apply_as_autograd)
        yield patched
    finally:
        for cls in patched:
            if 'apply' in vars(cls):
                del cls.apply


def _dot(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> torch.Tensor:
    return sum((x.double() * y.double()).sum() for x, y in zip(a, b))


def top_hessian_eigenvalue(hvp_fn: Callable[[Tensors], Tensors],
                           params: Sequence[torch.Tensor],
                           num_iters: int = 20,
                           tol: float = 1e-3,
                           generator: Optional[torch.Generator] = None) -> PowerIterationResult:
    """Largest-magnitude Hessian eigenvalue by power iteration.

    ``v <- H v / ||H v||`` from a random Gaussian start; the estimate is ``<v, H v>``. Near a
    minimum the Hessian is close to positive semi-definite and this is the top (sharpest)
    curvature. Convergence is geometric in ``|lambda_2 / lambda_1|``.

    Args:
        hvp_fn (Callable): Maps a list of tensors ``v`` (shaped like ``params``) to ``H v``, e.g.
            ``partial(hessian_vector_product, loss_fn, params)`` or an average over batches.
        params (Sequence[Tensor]): Only their shapes, dtypes and devices are used.
        num_iters (int): Maximum iterations. Defaults to 20.
        tol (float): Stop when the estimate changes by less than ``tol`` relative to its size.
            Defaults to 1e-3.
        generator (torch.Generator, optional): CPU generator of the start vector. Defaults to
            None (the global one).

    Returns:
        PowerIterationResult: eigenvalue, eigenvector, history and whether it converged.
    """
    if num_iters < 1:
        raise ValueError(f'num_iters must be at least 1, got {num_iters}.')
    vector = [
        torch.randn(p.shape, generator=generator, dtype=torch.float64).to(p.device, p.dtype)
        for p in params
    ]
    norm = _dot(vector, vector).sqrt()
    vector = [v / norm for v in vector]
    history: List[float] = []
    converged = False
    for _ in range(num_iters):
        product = [h.detach() for h in hvp_fn(vector)]
        eigenvalue = float(_dot(vector, product))
        norm = float(_dot(product, product).sqrt())
        if norm == 0:
            history.append(0.0)
            converged = True
            break
        vector = [h / norm for h in product]
        if history and abs(eigenvalue - history[-1]) <= tol * (abs(history[-1]) + 1e-12):
            history.append(eigenvalue)
            converged = True
            break
        history.append(eigenvalue)
    return PowerIterationResult(history[-1], vector, history, converged)
