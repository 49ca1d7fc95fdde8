# Copyright (c) mmgcp contributors. All rights reserved.
"""Normalised covariance of a feature map: the second-order statistic that GCP necks and heads
carry downstream."""
import torch

from mmgcp.ops import covariance, isqrt, matrix_power

#: Post-normalisations of :func:`normalized_covariance`.
COV_NORMS = ('isqrt', 'power', 'none')


def check_cov_norm(post_norm: str) -> None:
    """Raise a ValueError naming the choices when ``post_norm`` is not one of :data:`COV_NORMS`."""
    if post_norm not in COV_NORMS:
        raise ValueError(f"post_norm='{post_norm}' is not supported; choose one of {COV_NORMS} "
                         "('none' matches DropCov-pretrained reductions).")


def normalized_covariance(x: torch.Tensor,
                          post_norm: str = 'isqrt',
                          num_iters: int = 5,
                          alpha: float = 0.5) -> torch.Tensor:
    """Covariance over spatial positions followed by a matrix normalisation.

    Args:
        x (torch.Tensor): Features, B x d x H x W.
        post_norm (str): ``'isqrt'`` (iSQRT-COV Newton-Schulz square root), ``'power'`` (exact
            matrix power ``alpha``) or ``'none'`` (plain covariance, as DropCov uses).
            Defaults to ``'isqrt'``.
        num_iters (int): Newton-Schulz iterations of ``'isqrt'``. Defaults to 5.
        alpha (float): Exponent of ``'power'``. Defaults to 0.5.

    Returns:
        torch.Tensor: B x d x d symmetric matrices, float32 (also under autocast).
    """
    check_cov_norm(post_norm)
    sigma = covariance(x)
    if post_norm == 'isqrt':
        return isqrt(sigma, num_iters=num_iters)
    if post_norm == 'power':
        return matrix_power(sigma, alpha=alpha)
    return sigma
