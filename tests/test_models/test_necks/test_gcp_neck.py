# Copyright (c) mmgcp contributors. All rights reserved.
import pytest
import torch

from mmgcp.models import DropCovNeck, GCPNeck


@pytest.fixture
def feats():
    torch.manual_seed(0)
    return torch.randn(4, 16, 5, 5)


@pytest.mark.parametrize('pre_norm, post_norm', [('none', 'isqrt'), ('none', 'power'),
                                                  ('dropcov', 'none'), ('none', 'signed_sqrt_l2'),
                                                  ('none', 'none')])
def test_forward_backward_shapes(feats, pre_norm, post_norm):
    neck = GCPNeck(in_channels=16, reduced_channels=8, pre_norm=pre_norm, post_norm=post_norm)
    neck.train()
    x = feats.clone().requires_grad_(True)
    (out, ) = neck((x, ))
    assert out.shape == (4, 8 * 9 // 2) == (4, neck.out_channels)
    out.square().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(torch.isfinite(p.grad).all() for p in neck.parameters() if p.grad is not None)


@pytest.mark.parametrize('post_norm', ['isqrt', 'power', 'none'])
def test_eval_output_is_the_published_pipeline(feats, post_norm, reference):
    neck = GCPNeck(in_channels=16, reduced_channels=8, post_norm=post_norm, num_iters=5).eval()
    with torch.no_grad():
        # the reduction by hand: 1x1 conv, BN with running statistics, ReLU
        bn = neck.reduction.bn
        reduced = torch.nn.functional.conv2d(feats, neck.reduction.conv.weight)
        reduced = ((reduced - bn.running_mean[:, None, None])
                   / (bn.running_var[:, None, None] + bn.eps).sqrt()
                   * bn.weight[:, None, None] + bn.bias[:, None, None]).relu()
        sigma = reference.covariance(reduced)
        expected = {'isqrt': lambda s: reference.isqrt(s, num_iters=5),
                    'power': reference.sqrtm,
                    'none': lambda s: s}[post_norm](sigma)
        (out, ) = neck(feats)
    assert out.dtype == feats.dtype
    torch.testing.assert_close(out.double(), reference.triu(expected), rtol=1e-4, atol=1e-5)


def test_without_reduction_pools_input_channels(feats, reference):
    neck = GCPNeck(in_channels=16, reduced_channels=None).eval()
    assert not hasattr(neck, 'reduction')
    (out, ) = neck(feats)
    expected = reference.triu(reference.isqrt(reference.covariance(feats)))
    torch.testing.assert_close(out.double(), expected, rtol=1e-4, atol=1e-5)


def test_isqrt_approaches_the_matrix_square_root_with_more_iterations(feats, reference):
    # Newton-Schulz converges to the principal square root: more iterations, closer to eigh's.
    errors = []
    for num_iters in (3, 5, 15):
        neck = GCPNeck(in_channels=16, reduced_channels=None, num_iters=num_iters).eval()
        (out, ) = neck(feats)
        exact = reference.triu(reference.sqrtm(reference.covariance(feats)))
        errors.append(((out.double() - exact).norm() / exact.norm()).item())
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-3, errors


def test_dropcov_trains_with_adaptive_dropout_and_is_plain_covariance_at_inference(feats,
                                                                                  reference):
    neck = DropCovNeck(in_channels=16, reduced_channels=8)
    assert (neck.pre_norm, neck.post_norm) == ('dropcov', 'none')
    assert neck.attention.conv.weight.shape == (1, 1, 3)
    neck.eval()
    with torch.no_grad():
        (eval_out, ) = neck(feats)
        expected = reference.triu(reference.covariance(neck.reduction(feats)))
    torch.testing.assert_close(eval_out.double(), expected, rtol=1e-4, atol=1e-5)
    neck.train()
    torch.manual_seed(1)
    (train_out, ) = neck(feats)
    assert 0.0 <= neck.last_drop_rate <= 1.0
    assert train_out.shape == eval_out.shape
    # Training goes through the attention, so its weights get a gradient.
    train_out.sum().backward()
    assert neck.attention.conv.weight.grad is not None


def test_bad_arguments_raise_clear_errors(feats):
    with pytest.raises(ValueError, match="post_norm='sqrtm'.*isqrt"):
        GCPNeck(in_channels=16, post_norm='sqrtm')
    with pytest.raises(ValueError, match='num_iters'):
        GCPNeck(in_channels=16, num_iters=0)
    with pytest.raises(ValueError, match='DropCovNeck always'):
        DropCovNeck(in_channels=16, post_norm='isqrt')
    with pytest.raises(ValueError, match="pre_norm='hflip'"):
        GCPNeck(in_channels=16, pre_norm='hflip')
    neck = GCPNeck(in_channels=32, reduced_channels=8)
    with pytest.raises(ValueError, match=r'B x 32 x H x W.*\(4, 16, 5, 5\)'):
        neck(feats)


def test_old_dropcov_post_norm_names_the_new_option():
    with pytest.raises(ValueError, match="old name.*pre_norm='dropcov', post_norm='none'"):
        GCPNeck(in_channels=16, post_norm='dropcov')


def test_nonfinite_features_raise_or_are_skipped(feats):
    bad = feats.clone()
    bad[2, 0, 0, 0] = float('nan')
    with pytest.raises(ValueError, match='2'):
        GCPNeck(in_channels=16, reduced_channels=None).eval()(bad)
    neck = GCPNeck(in_channels=16, reduced_channels=None, nonfinite='skip').eval()
    (out, ) = neck(bad)
    assert torch.isfinite(out).all()
    assert neck.num_skipped == 1
    assert out[2].abs().sum() == 0 and out[0].abs().sum() > 0


def test_bf16_autocast_matches_float32_with_the_reduction_in_float32():
    """CPU autocast to bf16: the default neck stays within 1e-3 of float32, forward and backward;
    letting autocast run the reduction in bf16 is visibly off (the 8-bit mantissa)."""
    torch.manual_seed(0)
    feats = torch.randn(4, 64, 7, 7).relu_()
    weight = torch.randn(4, 32 * 33 // 2)

    def run(neck, autocast):
        x = feats.clone().requires_grad_()
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=autocast):
            (out, ) = neck(x)
        (out.float() * weight).sum().backward()
        return out.float(), x.grad

    def rel(a, b):
        return float((a - b).norm() / b.norm())

    torch.manual_seed(1)
    neck = GCPNeck(in_channels=64, reduced_channels=32).train()
    state = neck.state_dict()
    out32, grad32 = run(neck, False)
    neck.load_state_dict(state)
    out, grad = run(neck, True)
    assert out.dtype == torch.float32
    assert rel(out, out32) < 1e-3 and rel(grad, grad32) < 1e-3
    half = GCPNeck(in_channels=64, reduced_channels=32, fp32_reduction=False).train()
    half.load_state_dict(state)
    out_half, _ = run(half, True)
    assert rel(out_half, out32) > 1e-3
