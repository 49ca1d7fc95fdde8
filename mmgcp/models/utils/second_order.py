# Copyright (c) mmgcp contributors. All rights reserved.
"""The normalised covariance of a feature map: the one path every GCP neck and head calls.

``x -> [pre-normalisation] -> covariance -> post-normalisation`` (docs/math.md, sections
"Covariance" to "DropCov"). The pre-normalisation (DropCov's attention and adaptive channel
dropout) has parameters and lives in the module that owns them (:class:`GCPNeck`); this module
holds the names and the parameter-free part, so every neck and head accepts the same names
and gets the fastest operator for each.
"""
from typing import Optional

import torch
import torch.nn.functional as F

from mmgcp.ops import covariance, covariance_isqrt, matrix_power

#: Post-normalisations of the covariance, with what they are.
POST_NORMS = {
    'isqrt': 'iSQRT-COV: Newton-Schulz matrix square root (fused with the covariance)',
    'power': 'MPN-COV: exact matrix power `alpha` by eigendecomposition',
    'signed_sqrt_l2': 'element-wise signed square root, then L2 on the pooled vector '
                      '(GCPNeck only: it acts on the vector)',
    'none': 'the plain covariance (as DropCov uses it)',
}
#: Post-normalisations whose result is a matrix (what the necks and heads that use the matrix
#: itself accept).
MATRIX_POST_NORMS = ('isqrt', 'power', 'none')
#: Pre-normalisations, applied to the features before the covariance, in training only.
PRE_NORMS = {
    'none': 'no pre-normalisation',
    'dropcov': "DropCov: ECA channel attention and adaptive channel dropout (use it with "
               "post_norm='none', as published)",
}
#: Old names and what to write instead.
RENAMED = {
    ('post_norm', 'dropcov'): "DropCov is a pre-normalisation (it acts before the covariance, "
                              "which it leaves unnormalised): in GCPNeck write "
                              "pre_norm='dropcov', post_norm='none' (or type='mmgcp.DropCovNeck'); "
                              "in CovAttentionNeck and CovUPerHead post_norm='none' matches a "
                              "DropCov-pretrained reduction",
}


def check_norm(kind: str, value: str, allowed) -> None:
    """Raise a ValueError that names the choices (and the new name of an old one).

    Args:
        kind (str): ``'post_norm'`` or ``'pre_norm'``.
        value (str): The given value.
        allowed (Sequence[str]): The values the caller accepts.
    """
    if value in allowed:
        return
    hint = RENAMED.get((kind, value))
    if hint is not None:
        raise ValueError(f"{kind}='{value}' is an old name; {hint}.")
    raise ValueError(f"{kind}='{value}' is not supported; choose one of {tuple(allowed)} "
                     "('none' matches DropCov-pretrained reductions).")


def normalized_covariance(x: torch.Tensor,
                          post_norm: str = 'isqrt',
                          num_iters: int = 5,
                          alpha: float = 0.5,
                          valid_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Covariance over spatial positions followed by a matrix post-normalisation.

    ``'isqrt'`` runs the fused :func:`mmgcp.ops.covariance_isqrt` (the same function as
    ``isqrt(covariance(x))``, cheaper, and on the Gram matrix when ``H * W < d``).

    Args:
        x (torch.Tensor): Features, B x d x H x W.
        post_norm (str): One of :data:`MATRIX_POST_NORMS`: ``'isqrt'`` (iSQRT-COV Newton-Schulz
            square root), ``'power'`` (exact matrix power ``alpha``) or ``'none'`` (plain
            covariance, as DropCov uses). Defaults to ``'isqrt'``.
        num_iters (int): Newton-Schulz iterations of ``'isqrt'``. Defaults to 5.
        alpha (float): Exponent of ``'power'``. Defaults to 0.5.
        valid_mask (torch.Tensor, optional): B x H x W booleans, True on each image's positions
            in a padded batch: the covariance is taken over them only (docs/math.md, section 8),
            the post-normalisation is unchanged. Defaults to None (every position).

    Returns:
        torch.Tensor: B x d x d symmetric matrices, float32 (also under autocast).
    """
    check_norm('post_norm', post_norm, MATRIX_POST_NORMS)
    if post_norm == 'isqrt':
        return covariance_isqrt(x, num_iters=num_iters, valid_mask=valid_mask)
    sigma = covariance(x, valid_mask=valid_mask)
    if post_norm == 'power':
        return matrix_power(sigma, alpha=alpha)
    return sigma


def signed_sqrt_l2(vec: torch.Tensor) -> torch.Tensor:
    """Element-wise signed square root, then L2 normalisation of each row.

    Args:
        vec (torch.Tensor): B x n vectors (upper triangles of covariances).

    Returns:
        torch.Tensor: B x n, unit rows.
    """
    return F.normalize(vec.sign() * vec.abs().add(1e-12).sqrt(), dim=1)
