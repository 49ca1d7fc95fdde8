# Copyright (c) mmgcp contributors. All rights reserved.
"""The one normalised-covariance path: names, errors and the fused iSQRT."""
import pytest
import torch

from mmgcp.models.utils import MATRIX_POST_NORMS, POST_NORMS, PRE_NORMS, normalized_covariance


def test_one_set_of_names():
    assert set(MATRIX_POST_NORMS) < set(POST_NORMS)
    assert 'dropcov' in PRE_NORMS and 'dropcov' not in POST_NORMS


@pytest.mark.parametrize('post_norm, match', [
    ('dropcov', "old name.*pre_norm='dropcov', post_norm='none'"),
    ('signed_sqrt_l2', r"choose one of \('isqrt', 'power', 'none'\)"),
    ('sqrtm', 'not supported'),
])
def test_bad_post_norm_is_explained(post_norm, match):
    with pytest.raises(ValueError, match=match):
        normalized_covariance(torch.randn(2, 4, 3, 3), post_norm)


def test_isqrt_of_an_identity_covariance_follows_the_published_scalar_recurrence():
    # Features whose covariance is exactly I: then A = I / d, five Newton-Schulz steps on a
    # multiple of the identity give c I, and the post-compensation sqrt(tr) = sqrt(d) scales it.
    d, m = 4, 8
    x = torch.zeros(1, d, m, dtype=torch.float64)
    for i in range(d):  # +-2 at two positions per channel, orthogonal across channels
        x[0, i, 2 * i], x[0, i, 2 * i + 1] = 2.0, -2.0
    sigma = normalized_covariance(x.view(1, d, 2, 4), 'none')
    torch.testing.assert_close(sigma[0], torch.eye(d, dtype=torch.float64))
    y = normalized_covariance(x.view(1, d, 2, 4), 'isqrt', num_iters=5)
    assert torch.allclose(y[0], y[0, 0, 0] * torch.eye(d, dtype=torch.float64))
    # scalar recurrence of the published loop on a = 1 / d
    a, z = 1.0 / d, 1.0
    yy = a
    for _ in range(4):
        t = 0.5 * (3 - z * yy)
        yy, z = yy * t, t * z
    yy = 0.5 * yy * (3 - z * yy)
    assert y[0, 0, 0].item() == pytest.approx(yy * d ** 0.5, rel=1e-12)
