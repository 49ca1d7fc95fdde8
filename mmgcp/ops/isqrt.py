# Copyright (c) mmgcp contributors. All rights reserved.
"""iSQRT-COV: matrix square root by the coupled Newton-Schulz iteration, as published.

The published layer (iSQRT-COV, CVPR'18) computes, for a symmetric PSD ``Sigma``::

    A = Sigma / tr(Sigma);  Y0 = A, Z0 = I
    for k = 1 .. N-1:  T = (3I - Z Y) / 2;  Y <- Y T;  Z <- T Z
    Y_N = Y (3I - Z Y) / 2;  output = sqrt(tr(Sigma)) Y_N

Five iterations are far from the exact square root on singular spectra; networks are trained
with this approximation, so it is reproduced exactly (as a polynomial in ``A``), not replaced by
``sqrtm``.

How it is evaluated here. Every iterate is a polynomial in ``A``, so all of them are symmetric
and commute, and ``Y_k = A Z_k``. With ``U_k = Z_k Y_k = A Z_k^2`` the loop becomes

    T_k = (3I - U_{k-1}) / 2,  Z_k = Z_{k-1} T_k,
    U_k = U_{k-1} T_k^2 = h(U_{k-1}),  h(U) = 9/4 U - 3/2 U^2 + 1/4 U^3,

and ``Y_N = A Q`` with ``Q = Z_N = T_1 ... T_N``. The forward costs the same 3N-3 products as
the published loop, but the backward is hand-derived: with a symmetric output gradient every
adjoint stays symmetric, which turns two products into one in each step (20 instead of 24
products for N = 5), only ``U_0..U_{N-1}`` and ``Z_2..Z_{N-1}`` are stored, and they are freed
one by one during the backward.

:func:`covariance_isqrt` fuses the covariance with the iteration. When the number of positions
M is smaller than the number of channels d (14 x 14 = 196 < 256 in every GCP ResNet), it runs the
loop on the M x M Gram matrix instead of the d x d covariance: with ``A = V V^T`` and
``V = Xc / sqrt(M tr)``, ``A q(A) = V q(V^T V) V^T`` for any polynomial ``q``, so the products
shrink from d^3 to M^3 (0.45x at 196 vs 256) and the result is the same function.

On the CPU the Gram-matrix path evaluates the same polynomial spectrally: ``eigh`` of the
M x M Gram matrix, the scalar recurrence on its eigenvalues, and a Daleckii-Krein backward whose
kernel (the divided differences of the polynomial) follows the recurrence exactly
(:func:`_spectral_q`). One batched ``eigh`` (B = 32, M = 196, one thread) costs about 7 batched
products, but the backward shrinks from 20 products to 4, so forward + backward is about twice
as fast. On CUDA, batched ``eigh`` of matrices larger than 32 is slow and synchronises with the
host, so the iteration (products only) runs there. ``$MMGCP_ISQRT_METHOD`` forces either.

Gradients: the operators are defined on symmetric matrices; the backward returns the gradient
with respect to the symmetric input, i.e. it treats the output gradient ``G`` as ``(G + G^T) / 2``
(equivalently, the symmetric part of the Euclidean gradient). Everything upstream of a
covariance sees exactly the same gradient as with plain autograd.
"""
import functools
import os
from typing import List, Optional, Tuple

import torch
from torch import Tensor
from torch.autograd import Function
from torch.autograd.function import once_differentiable

from ._utils import (
    autocast_disabled,
    batch_inner,
    check_eps,
    check_num_iters,
    check_square_batch,
    to_compute_dtype,
)
from .covariance import _covariance_input, _CovarianceFunction
from .nonfinite import NonFiniteCountingModule, check_nonfinite_mode, handle_nonfinite
from .padding import fill_padding
from .triu import triu_flat_indices

#: Default lower bound on the trace used for the pre-normalisation, ``A = Sigma / max(tr, eps)``
#: and the post-compensation ``sqrt(max(tr, eps))``. Below it (dead, all-zero features) the
#: output stays finite (zero for a zero matrix) and no gradient flows through the trace.
ISQRT_EPS = 1e-12


def _half_three_minus(u: Tensor) -> Tensor:
    """``T = (3I - U) / 2`` without building an identity matrix."""
    t = u.mul(-0.5)
    t.diagonal(dim1=-2, dim2=-1).add_(1.5)
    return t


def _pack_sym(m: Tensor) -> Tensor:
    """Upper triangles of symmetric ``B x n x n`` matrices, ``B x n(n+1)/2`` (half the memory).

    The saved iterates are symmetric (polynomials in a symmetric matrix); keeping one triangle
    halves what the forward leaves for the backward.
    """
    size = m.shape[-1]
    index, _ = triu_flat_indices(size, m.device)
    return m.reshape(m.shape[0], size * size).index_select(1, index)


@functools.lru_cache(maxsize=None)
def _sym_gather_index(size: int, device: torch.device) -> Tensor:
    """For each entry ``(i, j)`` of a ``size x size`` matrix, its position in the triangle."""
    index, _ = triu_flat_indices(size, device)
    position = torch.empty(size * size, dtype=torch.long, device=device)
    position[index] = torch.arange(index.numel(), device=device)
    rows, cols = torch.meshgrid(torch.arange(size, device=device),
                                torch.arange(size, device=device), indexing='ij')
    upper = torch.minimum(rows, cols) * size + torch.maximum(rows, cols)
    return position[upper.flatten()]


def _full(t: Tensor, size: int) -> Tensor:
    """``t`` itself when already ``B x n x n``, else the symmetric matrices of its triangles."""
    if t.dim() == 3:
        return t
    return t.index_select(1, _sym_gather_index(size, t.device)).view(t.shape[0], size, size)


def _newton_schulz_forward(a: Tensor, num_iters: int) -> Tuple[Tensor, List[Tensor],
                                                               List[Tensor]]:
    """``Q = T_1 ... T_N`` of the published iteration on ``a``, so that ``Y_N = a Q``.

    Args:
        a (Tensor): ``B x n x n`` symmetric matrices (already trace-normalised).
        num_iters (int): N >= 1.

    Returns:
        tuple: ``Q`` (``B x n x n``), the list ``[U_0 = a, U_1, ..., U_{N-1}]`` and the list
        ``[Z_2, ..., Z_{N-1}]``, which is what :func:`_newton_schulz_backward` needs; all but
        ``U_0`` are kept as upper triangles (:func:`_pack_sym`).
    """
    us = [a]
    zs = []
    u = a
    z = _half_three_minus(a)  # Z_1 = T_1, as Z_0 = I
    for k in range(2, num_iters + 1):
        # U_{k-1} = h(U_{k-2}) = 9/4 U + U^2 (U / 4 - 3/2 I): the exact 9/4 U term keeps the
        # rounding error lower than U T^2 (four times lower in float32 at d = 256)
        u_sq = torch.bmm(u, u)
        cubic = u.mul(0.25)
        cubic.diagonal(dim1=-2, dim2=-1).sub_(1.5)
        u = torch.baddbmm(u, u_sq, cubic, beta=2.25)
        del u_sq, cubic
        us.append(_pack_sym(u))
        if k > 2:
            zs.append(_pack_sym(z))
        # Z_k = Z_{k-1} T_k = 3/2 Z_{k-1} - 1/2 Z_{k-1} U_{k-1}
        z = torch.baddbmm(z, z, u, beta=1.5, alpha=-0.5)
    return z, us, zs


def _newton_schulz_backward(grad_q: List[Tensor], us: List[Optional[Tensor]],
                            zs: List[Tensor], num_iters: int) -> Tensor:
    """Gradient with respect to ``a`` of :func:`_newton_schulz_forward`, for a symmetric ``grad_q``.

    Reverse mode through ``Z_k = sym(Z_{k-1} T_k)`` and ``U_k = h(U_{k-1})``. These symmetrised
    forms are equal to the published products on the commuting iterates, so the total derivative
    is unchanged, and they keep every adjoint symmetric: ``X + X^T`` then replaces one of two
    products. Per step (N = 5): 5 products instead of the 6 of autograd.

    The lists are consumed: entries are dropped as soon as they are used, so the memory of the
    saved iterates (and of ``grad_q``) is given back during the backward. Pass copies to keep
    them.

    Args:
        grad_q (list[Tensor]): One-element list holding the symmetric ``B x n x n`` gradient of
            ``Q`` (a list, so that the caller holds no reference to it).
        us (list[Tensor]): ``[U_0, ..., U_{N-1}]`` from the forward.
        zs (list[Tensor]): ``[Z_2, ..., Z_{N-1}]`` from the forward.
        num_iters (int): N.

    Returns:
        Tensor: Symmetric ``B x n x n`` gradient of ``a``.
    """
    grad_z = grad_q.pop()  # adjoint of Z_k, from k = N down
    size = grad_z.shape[-1]
    grad_u: Optional[Tensor] = None  # adjoint of U_k (U_N is not used)
    for k in range(num_iters, 0, -1):
        u = _full(us[k - 1], size)
        # T_k = 3/2 I - 1/2 U_{k-1} receives sym(Z_{k-1} G_Z), i.e. U_{k-1} receives
        # -1/4 (zg + zg^T) with zg = Z_{k-1} G_Z.
        if k >= 3:
            zg = torch.bmm(_full(zs.pop(), size), grad_z)
        elif k == 2:  # Z_1 = 3/2 I - 1/2 U_0
            zg = torch.baddbmm(grad_z, us[0], grad_z, beta=1.5, alpha=-0.5)
        else:  # Z_0 = I
            zg = grad_z.clone()
        if grad_u is None:  # k = N: U_N does not exist
            new_grad_u = zg.add(zg.mT).mul_(-0.25)
        else:
            # U_k = h(U_{k-1}) = 9/4 U - 3/2 U^2 + 1/4 U^3 has the adjoint
            # 9/4 G - 3/2 (GU + UG) + 1/4 (GU^2 + U^2 G + UGU) for a symmetric G. With
            # v = (G U^2 - zg) / 4 - 3/2 G U + 9/8 G, the new adjoint is v + v^T + U (G U) / 4.
            grad_uu = torch.bmm(grad_u, u)
            v = zg.baddbmm_(grad_uu, u, beta=-0.25, alpha=0.25)
            v.add_(grad_uu, alpha=-1.5).add_(grad_u, alpha=1.125)
            new_grad_u = v.add(v.mT).baddbmm_(u, grad_uu, alpha=0.25)
            del grad_uu, v
        del zg
        if k >= 2:
            # G_{Z_{k-1}} = sym(G_Z T_k) = w + w^T with w = 3/4 G_Z - 1/4 G_Z U_{k-1}
            w = torch.baddbmm(grad_z, grad_z, u, beta=0.75, alpha=-0.25)
            grad_z = w.add(w.mT)
            del w
            us[k - 1] = None  # U_{k-1} is not needed any more (U_0 is kept)
        grad_u = new_grad_u
        del u
    return grad_u


def _retain_graph() -> bool:
    """Whether the running backward keeps the graph (``retain_graph=True``)."""
    getter = getattr(torch._C._autograd, '_get_current_graph_task_keep_graph', None)
    if getter is None:
        return True
    try:
        return bool(getter())
    except RuntimeError:
        return True


def _take_saved(ctx, op: str) -> Tuple[List[Optional[Tensor]], List[Tensor], Tensor]:
    """The iterates saved on ``ctx``; released from it unless the graph is retained."""
    if ctx.us is None:
        raise RuntimeError(f'{op}: backward was called a second time on a graph that was freed; '
                           f'pass retain_graph=True to the first backward.')
    us, zs, q = list(ctx.us), list(ctx.zs), ctx.q
    if not _retain_graph():
        ctx.us = ctx.zs = ctx.q = None
    return us, zs, q


def _sym_bmm(grad: Tensor, scale: Tensor, *rights: Tensor) -> List[Tensor]:
    """``(scale sym(grad)) @ right`` for each right operand, by chunks of the batch.

    Chunking keeps the symmetrised copy of ``grad`` small (a quarter of the batch at most).

    Args:
        grad (Tensor): ``B x n x n`` gradient.
        scale (Tensor): ``B`` factors.
        *rights (Tensor): ``B x n x m`` operands.

    Returns:
        list[Tensor]: One ``B x n x m`` product per right operand.
    """
    batch = grad.shape[0]
    chunk = max(1, -(-batch // 4))
    outs = [grad.new_empty(grad.shape[:-1] + right.shape[-1:]) for right in rights]
    for begin in range(0, batch, chunk):
        part = slice(begin, begin + chunk)
        grad_part = grad[part].to(outs[0].dtype)
        sym_part = grad_part.add(grad_part.mT).mul_((0.5 * scale[part])[:, None, None])
        for out, right in zip(outs, rights):
            torch.bmm(sym_part, right[part], out=out[part])
    return outs


class _ISqrtFunction(Function):
    """``B x d x d`` Sigma -> ``sqrt(tr) A Q(A)`` with ``A = Sigma / tr`` (trace guarded)."""

    @staticmethod
    def forward(ctx, sigma: Tensor, num_iters: int, eps: float) -> Tensor:
        trace = sigma.diagonal(dim1=-2, dim2=-1).sum(dim=-1)
        trace_safe = trace.clamp_min(eps)
        a = sigma / trace_safe[:, None, None]
        q, us, zs = _newton_schulz_forward(a, num_iters)
        out = torch.bmm(a, q).mul_(trace_safe.sqrt()[:, None, None])
        ctx.num_iters = num_iters
        ctx.trace_used = trace > eps
        # The iterates are intermediates (neither input nor output), kept on ctx so that the
        # backward can free them one by one.
        ctx.us, ctx.zs, ctx.q = us, zs, _pack_sym(q)
        ctx.save_for_backward(trace_safe)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> Tuple[Optional[Tensor], None, None]:
        trace_safe, = ctx.saved_tensors
        us, zs, q = _take_saved(ctx, 'isqrt')
        a = us[0]
        q = _full(q, a.shape[-1])
        with autocast_disabled(grad.device.type):
            scale = trace_safe.sqrt()
            # out = s sym(A Q): A receives s sym(G Q), Q receives s sym(A G); with sym(G)
            # symmetric, A sym(G) = (sym(G) A)^T.
            grad_a_t, grad_qg = _sym_bmm(grad, scale, a, q)  # s sym(G) A, s sym(G) Q
            grad_scale = batch_inner(grad_a_t, q) / scale  # <G, A Q>
            grad_q = [grad_a_t.add(grad_a_t.mT).mul_(0.5)]
            del grad_a_t, q
            grad_a = _newton_schulz_backward(grad_q, us, zs, ctx.num_iters)
            grad_a.add_(grad_qg, alpha=0.5).add_(grad_qg.mT, alpha=0.5)
            del grad_qg
            # A = Sigma / t and s = sqrt(t) both depend on the (unclamped) trace t
            grad_trace = 0.5 * grad_scale / scale - batch_inner(grad_a, a) / trace_safe
            grad_trace = torch.where(ctx.trace_used, grad_trace, torch.zeros_like(grad_trace))
            grad_sigma = grad_a.div_(trace_safe[:, None, None])
            grad_sigma.diagonal(dim1=-2, dim2=-1).add_(grad_trace[:, None])
        return grad_sigma, None, None


def _normalized_gram(x: Tensor, eps: float) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Mean, centred features ``Xc``, Gram matrix ``S = Xc^T Xc / (M t)`` of ``A = Sigma / t``,
    trace ``t = tr(Sigma)`` and the guarded trace ``max(t, eps)``, for ``B x d x M`` features."""
    num_positions = x.shape[-1]
    mean = x.mean(dim=-1, keepdim=True)
    centred = x - mean
    gram = torch.bmm(centred.mT, centred)
    trace = gram.diagonal(dim1=-2, dim2=-1).sum(dim=-1).div_(num_positions)
    trace_safe = trace.clamp_min(eps)
    gram.div_((num_positions * trace_safe)[:, None, None])
    return mean, centred, gram, trace, trace_safe


class _CovarianceISqrtGramFunction(Function):
    """``B x d x M`` features -> ``isqrt(covariance)``, iterating on the M x M Gram matrix.

    With ``Xc`` the centred features, ``t = tr(Sigma) = |Xc|^2 / M`` and
    ``S = Xc^T Xc / (M t)`` (the Gram matrix of ``A = Sigma / t``), the output is
    ``sqrt(t) A q(A) = kappa Xc q(S) Xc^T`` with ``kappa = 1 / (M sqrt(t))``.
    """

    @staticmethod
    def forward(ctx, x: Tensor, num_iters: int, eps: float) -> Tensor:
        num_positions = x.shape[-1]
        mean, centred, gram, trace, trace_safe = _normalized_gram(x, eps)
        q, us, zs = _newton_schulz_forward(gram, num_iters)
        out = torch.bmm(centred, q)
        out = torch.bmm(out, centred.mT)
        out.mul_((1.0 / (num_positions * trace_safe.sqrt()))[:, None, None])
        ctx.num_iters = num_iters
        ctx.trace_used = trace > eps
        # intermediates, freed one by one in the backward
        ctx.us, ctx.zs, ctx.q = us, zs, _pack_sym(q)
        ctx.save_for_backward(x, mean, trace_safe)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> Tuple[Optional[Tensor], None, None]:
        x, mean, trace_safe = ctx.saved_tensors
        us, zs, q = _take_saved(ctx, 'covariance_isqrt')
        num_positions = x.shape[-1]
        q = _full(q, num_positions)
        with autocast_disabled(grad.device.type):
            kappa = 1.0 / (num_positions * trace_safe.sqrt())  # out = kappa Xc Q Xc^T
            inv_norm = 1.0 / (num_positions * trace_safe)  # S = inv_norm Xc^T Xc
            centred = x - mean
            grad_centred, = _sym_bmm(grad, kappa, centred)  # kappa sym(G) Xc, d x M
            grad_q = torch.bmm(centred.mT, grad_centred)  # kappa Xc^T sym(G) Xc
            del centred  # recomputed below: less memory while the iterates are alive
            grad_kappa = batch_inner(grad_q, q) / kappa
            grad_centred_q = torch.bmm(grad_centred, q)
            del grad_centred, q
            grad_q = [grad_q]
            grad_s = _newton_schulz_backward(grad_q, us, zs, ctx.num_iters)
            grad_inv_norm = batch_inner(grad_s, us[0]) / inv_norm
            grad_trace = -(0.5 * grad_kappa * kappa + grad_inv_norm * inv_norm) / trace_safe
            grad_trace = torch.where(ctx.trace_used, grad_trace, torch.zeros_like(grad_trace))
            # G_Xc = 2 kappa sym(G) Xc Q + 2 Xc (inv_norm G_S + grad_trace / M I)
            grad_s.mul_(inv_norm[:, None, None])
            grad_s.diagonal(dim1=-2, dim2=-1).add_((grad_trace / num_positions)[:, None])
            grad_x = grad_centred_q.baddbmm_(x - mean, grad_s).mul_(2)
            del grad_s
            # X -> Xc is a projection: remove the mean over positions (round-off only)
            grad_x.sub_(grad_x.mean(dim=-1, keepdim=True))
        return grad_x, None, None


def _spectral_q(lam: Tensor, num_iters: int,
                with_differences: bool) -> Tuple[Tensor, Optional[Tensor]]:
    """``q = T_1 ... T_N`` of the iteration on the eigenvalues, and its divided differences.

    The scalar recurrence of :func:`_newton_schulz_forward`: ``T_k = (3 - u_{k-1}) / 2``,
    ``u_k = h(u_{k-1})``, ``u_0 = lambda``. The divided differences ``q[l_i, l_j]`` (the kernel of
    the Daleckii-Krein formula) follow the same recurrence exactly, without a division: the chain
    rule ``(h o u)[x, y] = h[u(x), u(y)] u[x, y]`` with
    ``h[a, b] = 9/4 - 3/2 (a + b) + 1/4 (a^2 + ab + b^2)`` and the symmetric product rule
    ``(pt)[x, y] = p[x, y] (t(x) + t(y)) / 2 + t[x, y] (p(x) + p(y)) / 2``, so close or equal
    eigenvalues need no special case.

    Args:
        lam (Tensor): ``B x n`` eigenvalues.
        num_iters (int): N >= 1.
        with_differences (bool): Whether to compute the ``B x n x n`` divided differences.

    Returns:
        tuple: ``q`` (``B x n``) and the divided differences (None unless asked for).
    """
    u = lam
    q = torch.ones_like(lam)
    du = torch.ones(lam.shape + lam.shape[-1:], dtype=lam.dtype,
                    device=lam.device) if with_differences else None
    dq = torch.zeros_like(du) if with_differences else None
    for k in range(1, num_iters + 1):
        t = 1.5 - 0.5 * u
        if with_differences:
            # (q t)[x, y] with t[x, y] = -du / 2
            dq = dq.mul_((t[:, :, None] + t[:, None, :]).mul_(0.5))
            dq.addcmul_((q[:, :, None] + q[:, None, :]).mul_(-0.25), du)
        q = q * t
        if k < num_iters:
            if with_differences:
                ux, uy = u[:, :, None], u[:, None, :]
                h_dd = (ux * ux + ux * uy + uy * uy).mul_(0.25)
                h_dd.add_(ux + uy, alpha=-1.5).add_(2.25)
                du = du.mul_(h_dd)
                del h_dd
            u = u * (2.25 + u * (0.25 * u - 1.5))
    return q, dq


def _eigh_finite(matrix: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """``eigh`` of the finite matrices of a batch; the others (``bad``) are decomposed as zeros.

    Non-finite samples only get here when the NaN/Inf guard defers its report to a hook
    (``mmgcp.NonFiniteCheckHook``); LAPACK would fail on them, while the iteration lets NaN
    through. :func:`_nan_where` puts the NaN back into their outputs and gradients.
    """
    bad = ~torch.isfinite(matrix).all(dim=-1).all(dim=-1)
    lam, vecs = torch.linalg.eigh(matrix.masked_fill(bad[:, None, None], 0.0))
    return lam, vecs, bad


def _nan_where(t: Tensor, bad: Tensor) -> Tensor:
    """``t`` with the samples flagged in ``bad`` set to NaN (as the iteration would give)."""
    return t.masked_fill_(bad[:, None, None], float('nan'))


class _CovarianceISqrtSpectralFunction(Function):
    """:class:`_CovarianceISqrtGramFunction` evaluated through ``eigh`` of the Gram matrix.

    Same function: with ``S = V diag(l) V^T`` and ``W = Xc V``, the output is
    ``kappa W diag(q(l)) W^T`` (:func:`_spectral_q`), and the backward is the Daleckii-Krein
    formula with the exact divided differences of ``q``: 4 products of ``d x M`` matrices instead
    of the 20 ``M x M`` products of the iteration's backward. Used on the CPU, where one batched
    ``eigh`` costs about 7 products (one thread); see :func:`_use_spectral`.
    """

    @staticmethod
    def forward(ctx, x: Tensor, num_iters: int, eps: float) -> Tensor:
        num_positions = x.shape[-1]
        mean, centred, gram, trace, trace_safe = _normalized_gram(x, eps)
        lam, vecs, bad = _eigh_finite(gram)
        del gram
        q, _ = _spectral_q(lam, num_iters, with_differences=False)
        w = torch.bmm(centred, vecs)  # Xc V, d x M
        kappa = 1.0 / (num_positions * trace_safe.sqrt())
        out = _nan_where(torch.bmm(w * (q * kappa[:, None])[:, None, :], w.mT), bad)
        ctx.num_iters = num_iters
        ctx.trace_used = trace > eps
        ctx.save_for_backward(x, mean, trace_safe, lam, vecs, w, bad)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> Tuple[Optional[Tensor], None, None]:
        x, mean, trace_safe, lam, vecs, w, bad = ctx.saved_tensors
        num_positions = x.shape[-1]
        with autocast_disabled(grad.device.type):
            grad = grad.to(w.dtype)
            kappa = 1.0 / (num_positions * trace_safe.sqrt())  # out = kappa Xc Q Xc^T
            inv_norm = 1.0 / (num_positions * trace_safe)  # S = inv_norm Xc^T Xc
            q, dq = _spectral_q(lam, ctx.num_iters, with_differences=True)
            grad_w = torch.bmm(grad.add(grad.mT).mul_(0.5), w)  # sym(G) W, d x M
            inner = torch.bmm(w.mT, grad_w)  # E = W^T sym(G) W = V^T Xc^T sym(G) Xc V
            grad_kappa = (inner.diagonal(dim1=-2, dim2=-1) * q).sum(dim=-1)  # <sym(G), out> / k
            # V^T G_S V = q[l_i, l_j] * (V^T G_Q V), G_Q = kappa Xc^T sym(G) Xc
            grad_s = dq.mul_(inner).mul_(kappa[:, None, None])
            del inner
            grad_inv_norm = (grad_s.diagonal(dim1=-2, dim2=-1) * lam).sum(dim=-1) / inv_norm
            grad_trace = -(0.5 * grad_kappa * kappa + grad_inv_norm * inv_norm) / trace_safe
            grad_trace = torch.where(ctx.trace_used, grad_trace, torch.zeros_like(grad_trace))
            # G_Xc = (2 kappa sym(G) W diag(q) + 2 inv_norm W V^T G_S V) V^T + 2 t' / M Xc
            grad_w.mul_((2 * kappa[:, None] * q)[:, None, :])
            grad_s.mul_((2 * inv_norm)[:, None, None])
            grad_w = torch.baddbmm(grad_w, w, grad_s)
            del grad_s
            grad_x = torch.bmm(grad_w, vecs.mT)
            del grad_w
            grad_x.addcmul_(x - mean, (2 * grad_trace / num_positions)[:, None, None])
            # X -> Xc is a projection: remove the mean over positions (round-off only)
            grad_x.sub_(grad_x.mean(dim=-1, keepdim=True))
        return _nan_where(grad_x, bad), None, None


class _ISqrtSpectralFunction(Function):
    """:class:`_ISqrtFunction` evaluated through ``eigh`` of ``A = Sigma / tr`` (the CPU path).

    With ``A = V diag(l) V^T`` the output is ``sqrt(t) V diag(f(l)) V^T``, ``f(l) = l q(l)``
    (:func:`_spectral_q`); the backward is the Daleckii-Krein formula with the exact divided
    differences ``f[x, y] = (x + y) / 2 q[x, y] + (q(x) + q(y)) / 2``: 4 products instead of
    the iteration's 20 plus 12 in the forward.
    """

    @staticmethod
    def forward(ctx, sigma: Tensor, num_iters: int, eps: float) -> Tensor:
        trace = sigma.diagonal(dim1=-2, dim2=-1).sum(dim=-1)
        trace_safe = trace.clamp_min(eps)
        lam, vecs, bad = _eigh_finite(sigma / trace_safe[:, None, None])
        q, _ = _spectral_q(lam, num_iters, with_differences=False)
        out = torch.bmm(vecs * (lam * q * trace_safe.sqrt()[:, None])[:, None, :], vecs.mT)
        out = _nan_where(out, bad)
        ctx.num_iters = num_iters
        ctx.trace_used = trace > eps
        ctx.save_for_backward(trace_safe, lam, vecs, bad)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> Tuple[Optional[Tensor], None, None]:
        trace_safe, lam, vecs, bad = ctx.saved_tensors
        with autocast_disabled(grad.device.type):
            grad = grad.to(vecs.dtype)
            scale = trace_safe.sqrt()
            q, dq = _spectral_q(lam, ctx.num_iters, with_differences=True)
            inner = torch.bmm(vecs.mT, torch.bmm(grad.add(grad.mT).mul_(0.5), vecs))  # V^T sG V
            grad_scale = (inner.diagonal(dim1=-2, dim2=-1) * lam * q).sum(dim=-1)  # <sG, F(A)>
            # f[x, y] for f(l) = l q(l), then V^T G_A V = s f[l_i, l_j] * inner
            f_dd = dq.mul_((lam[:, :, None] + lam[:, None, :]).mul_(0.5))
            f_dd.add_((q[:, :, None] + q[:, None, :]).mul_(0.5))
            grad_a_eig = f_dd.mul_(inner).mul_(scale[:, None, None])
            del inner
            grad_trace = (0.5 * grad_scale / scale -
                          (grad_a_eig.diagonal(dim1=-2, dim2=-1) * lam).sum(dim=-1) / trace_safe)
            grad_trace = torch.where(ctx.trace_used, grad_trace, torch.zeros_like(grad_trace))
            grad_sigma = torch.bmm(torch.bmm(vecs, grad_a_eig), vecs.mT)
            grad_sigma.div_(trace_safe[:, None, None])
            grad_sigma.diagonal(dim1=-2, dim2=-1).add_(grad_trace[:, None])
        return _nan_where(grad_sigma, bad), None, None


def _use_spectral(features: Tensor) -> bool:
    """Whether iSQRT goes through ``eigh`` (CPU) or the iteration (elsewhere).

    Measured in one run on a 2-core CPU, B = 32, M = 196, one thread: a batched ``eigh`` of the
    Gram matrices costs 7.4 batched ``M x M`` products, and the spectral forward + backward is
    about twice as fast as the iteration's (``tools/analysis/benchmark_ops.py``). On CUDA,
    batched ``eigh`` beyond n = 32 is a loop of solver calls that synchronise with the host, while
    the iteration is products only: it stays there. ``$MMGCP_ISQRT_METHOD`` (``'eigh'`` or
    ``'iteration'``) forces one of them on every device; both compute the same function.
    """
    method = os.environ.get('MMGCP_ISQRT_METHOD', 'auto')
    if method == 'auto':
        return features.device.type == 'cpu'
    if method not in ('eigh', 'iteration'):
        raise ValueError(f"MMGCP_ISQRT_METHOD={method!r} must be 'auto', 'eigh' or 'iteration'; "
                         'unset it for the default (eigh on the CPU, the iteration elsewhere).')
    return method == 'eigh'


def _gram_function(features: Tensor):
    return (_CovarianceISqrtSpectralFunction
            if _use_spectral(features) else _CovarianceISqrtGramFunction)


def _isqrt_function(sigma: Tensor):
    return _ISqrtSpectralFunction if _use_spectral(sigma) else _ISqrtFunction


def _check_isqrt_args(num_iters: int, eps: float, nonfinite: str, op: str) -> None:
    check_num_iters(num_iters, op)
    check_eps(eps, op)
    check_nonfinite_mode(nonfinite)


def _covariance_source(sigma: Tensor) -> Optional[Tensor]:
    """The ``B x C x M`` features (M < C) that :func:`covariance` made ``sigma`` of, if usable.

    Then ``isqrt(sigma)`` is ``covariance_isqrt(features)`` (the Gram-matrix path), with the
    gradient flowing to the features directly. Not used when ``sigma`` was changed in place,
    retains its gradient, or was made a leaf that requires a gradient: the gradient with
    respect to ``sigma`` itself is wanted then.
    """
    source = getattr(sigma, '_mmgcp_covariance_of', None)
    if source is None:
        return None
    features, version = source
    if (sigma._version != version or sigma.retains_grad or sigma.dim() != 3
            or sigma.requires_grad != features.requires_grad
            or (sigma.requires_grad and sigma.grad_fn is None)):
        return None
    return features


def _isqrt(sigma: Tensor, num_iters: int, eps: float, nonfinite: str) -> Tuple[Tensor, int]:
    _check_isqrt_args(num_iters, eps, nonfinite, 'isqrt')
    if not isinstance(sigma, Tensor):
        raise TypeError(f'isqrt expects a torch.Tensor, got {type(sigma).__name__}.')
    check_square_batch(sigma, 'isqrt')
    given = sigma
    sigma, num_skipped = handle_nonfinite(sigma, 'isqrt', nonfinite)
    features = _covariance_source(given) if sigma is given else None
    if features is not None:
        with autocast_disabled(features.device.type):
            out = _gram_function(features).apply(features, num_iters, float(eps))
        return out, num_skipped
    with autocast_disabled(sigma.device.type):
        sigma = to_compute_dtype(sigma, 'isqrt', 'sigma')
        dim = sigma.shape[-1]
        out = _isqrt_function(sigma).apply(sigma.reshape(-1, dim, dim), num_iters, float(eps))
    return out.view(sigma.shape), num_skipped


def isqrt(sigma: Tensor,
          num_iters: int = 5,
          eps: float = ISQRT_EPS,
          nonfinite: str = 'raise') -> Tensor:
    """iSQRT-COV: approximate matrix square root by the published Newton-Schulz iteration.

    Trace pre-normalisation ``A = Sigma / tr``, ``num_iters`` coupled Newton-Schulz steps with
    the published last step (which only updates Y), post-compensation by ``sqrt(tr)``. This is
    exactly the trained function (a polynomial in ``A``), not the exact square root. Runs in
    float32 under autocast; float64 stays float64.

    Args:
        sigma (Tensor): ``B x d x d`` symmetric PSD matrices (e.g. from :func:`covariance`).
        num_iters (int): Number of iterations N >= 1. Defaults to 5 (all published models).
        eps (float): Lower bound of the trace, ``tr <- max(tr, eps)``, so that zero or
            near-zero traces (dead features) give a finite output (zero for a zero matrix)
            instead of NaN. Defaults to :data:`ISQRT_EPS` (1e-12).
        nonfinite (str): ``'raise'`` raises :class:`NonFiniteError` on NaN/Inf with the batch
            indices; ``'skip'`` outputs zeros for those samples and counts them. Defaults to
            ``'raise'``.

    Returns:
        Tensor: ``B x d x d``. The backward returns the gradient with respect to the symmetric
        input (the output gradient is symmetrised).

    Note:
        ``isqrt(covariance(x))`` with fewer positions than channels is as fast as
        :func:`covariance_isqrt`: ``isqrt`` recognises an unchanged output of
        :func:`covariance` and runs the Gram-matrix path on ``x``, so the gradient goes to
        ``x`` without passing through ``sigma``. Call ``sigma.retain_grad()`` (or pass
        ``sigma.clone()``) when the gradient with respect to ``sigma`` itself is wanted.
    """
    return _isqrt(sigma, num_iters, eps, nonfinite)[0]


def _covariance_isqrt(x: Tensor, num_iters: int, tokens: bool, eps: float, nonfinite: str,
                      valid_mask: Optional[Tensor] = None) -> Tuple[Tensor, int]:
    _check_isqrt_args(num_iters, eps, nonfinite, 'covariance_isqrt')
    features = _covariance_input(x, tokens, 'covariance_isqrt')
    if valid_mask is not None:
        # docs/math.md section 8: the covariance of the filled map is (M_i / M) Sigma_i, and
        # iSQRT is homogeneous of degree 1/2 (the trace normalisation cancels the scale)
        features, scale = fill_padding(features, valid_mask, 'covariance_isqrt')
    features, num_skipped = handle_nonfinite(features, 'covariance_isqrt', nonfinite)
    with autocast_disabled(features.device.type):
        features = to_compute_dtype(features, 'covariance_isqrt')
        if features.shape[-1] < features.shape[-2]:
            out = _gram_function(features).apply(features, num_iters, float(eps))
        else:
            sigma = _CovarianceFunction.apply(features)
            out = _isqrt_function(sigma).apply(sigma, num_iters, float(eps))
        if valid_mask is not None:
            out = out * scale.sqrt()[:, None, None]
    return out, num_skipped


def covariance_isqrt(x: Tensor,
                     num_iters: int = 5,
                     tokens: bool = False,
                     eps: float = ISQRT_EPS,
                     nonfinite: str = 'raise',
                     valid_mask: Optional[Tensor] = None) -> Tensor:
    """Fused ``isqrt(covariance(x), num_iters)``: the iSQRT-COV pooling of a feature map.

    Same values as the two calls (and as the published layer), computed faster and in less
    memory: when the number of positions M is smaller than the number of channels C the
    iteration runs on the M x M Gram matrix of the centred features instead of the C x C
    covariance (same polynomial, see the module docstring). Runs in float32 under autocast.

    Args:
        x (Tensor): Features ``B x C x H x W`` (or ``B x C x M``), or tokens ``B x N x C``
            with ``tokens=True``.
        num_iters (int): Newton-Schulz iterations N >= 1. Defaults to 5.
        tokens (bool): Whether ``x`` is ``B x N x C``. Defaults to False.
        eps (float): Lower bound of the trace, as in :func:`isqrt`. Defaults to 1e-12.
        nonfinite (str): ``'raise'`` or ``'skip'``, as in :func:`covariance`. Defaults to
            ``'raise'``.
        valid_mask (Tensor, optional): ``B x H x W`` (or ``B x M``) booleans, True on the
            positions of the image in a padded batch: the covariance is taken over them only,
            as in :func:`covariance`, and the rest is unchanged. Defaults to None.

    Returns:
        Tensor: ``B x C x C``.
    """
    return _covariance_isqrt(x, num_iters, tokens, eps, nonfinite, valid_mask)[0]


class ISqrt(NonFiniteCountingModule):
    """Module form of :func:`isqrt`.

    Args:
        num_iters (int): Newton-Schulz iterations. Defaults to 5.
        eps (float): Lower bound of the trace. Defaults to 1e-12.
        nonfinite (str): ``'raise'`` or ``'skip'``. Defaults to ``'raise'``.

    Attributes:
        num_skipped (int): Samples skipped so far because of NaN/Inf (``nonfinite='skip'``).
    """

    def __init__(self, num_iters: int = 5, eps: float = ISQRT_EPS, nonfinite: str = 'raise'):
        _check_isqrt_args(num_iters, eps, nonfinite, 'ISqrt')
        super().__init__(nonfinite)
        self.num_iters = num_iters
        self.eps = eps

    def forward(self, sigma: Tensor) -> Tensor:
        """``B x d x d`` -> ``B x d x d``."""
        return self.counted(_isqrt(sigma, self.num_iters, self.eps, self.nonfinite))

    def extra_repr(self) -> str:
        return f"num_iters={self.num_iters}, eps={self.eps}, nonfinite='{self.nonfinite}'"


class CovarianceISqrt(NonFiniteCountingModule):
    """Module form of :func:`covariance_isqrt` (covariance followed by iSQRT, fused).

    Args:
        num_iters (int): Newton-Schulz iterations. Defaults to 5.
        tokens (bool): Whether inputs are ``B x N x C`` tokens. Defaults to False.
        eps (float): Lower bound of the trace. Defaults to 1e-12.
        nonfinite (str): ``'raise'`` or ``'skip'``. Defaults to ``'raise'``.

    Attributes:
        num_skipped (int): Samples skipped so far because of NaN/Inf (``nonfinite='skip'``).
    """

    def __init__(self,
                 num_iters: int = 5,
                 tokens: bool = False,
                 eps: float = ISQRT_EPS,
                 nonfinite: str = 'raise'):
        _check_isqrt_args(num_iters, eps, nonfinite, 'CovarianceISqrt')
        super().__init__(nonfinite)
        self.num_iters = num_iters
        self.tokens = tokens
        self.eps = eps

    def forward(self, x: Tensor, valid_mask: Optional[Tensor] = None) -> Tensor:
        """``B x C x H x W`` (or ``B x N x C``) -> ``B x C x C``, over the ``valid_mask``
        positions when given (see :func:`covariance_isqrt`)."""
        return self.counted(
            _covariance_isqrt(x, self.num_iters, self.tokens, self.eps, self.nonfinite,
                              valid_mask))

    def extra_repr(self) -> str:
        return (f"num_iters={self.num_iters}, tokens={self.tokens}, eps={self.eps}, "
                f"nonfinite='{self.nonfinite}'")
