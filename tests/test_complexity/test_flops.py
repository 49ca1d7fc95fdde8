# Copyright (c) mmgcp contributors. All rights reserved.
"""FLOP counting with mmgcp's ops: hand counts, torch's own counter, configs of three libraries."""
import pytest
import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from mmgcp.complexity import count_flops, format_flops_report, get_flops
from mmgcp.models import GCPNeck
from mmgcp.ops import covariance, covariance_isqrt, isqrt, triu_vectorize


class OpsOnly(nn.Module):
    """1x1 conv -> one GCP op -> triu -> linear: small enough to count by hand."""

    def __init__(self, in_channels: int, dim: int, fused: bool, num_classes: int = 10):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, dim, 1, bias=False)
        self.fused = fused
        self.fc = nn.Linear(dim * (dim + 1) // 2, num_classes)

    def forward(self, x):
        x = self.conv(x)
        sigma = covariance_isqrt(x, num_iters=5) if self.fused else isqrt(covariance(x))
        return self.fc(triu_vectorize(sigma))


def test_hand_count_covariance_then_isqrt():
    # 8 -> 4 channels on a 4 x 4 map (M = 16 >= d = 4), N = 5, 10 classes:
    # conv 4*8*16 = 512; covariance d^2 M = 4*4*16 = 256; isqrt (3(N-1)+1) d^3 = 13*64 = 832;
    # triu 0; linear (10 inputs) 10*10 = 100; the linear's bias is not a multiply-add.
    result = count_flops(OpsOnly(8, 4, fused=False).eval(), torch.randn(1, 8, 4, 4))
    assert result.flops == 512 + 256 + 832 + 100
    ops = {rec.op: rec.flops for rec in result.gcp_ops}
    assert ops == {'covariance': 256, 'isqrt': 832, 'triu_vectorize': 0}
    assert result.params == 8 * 4 + 10 * 10 + 10


def test_hand_count_gram_path_when_fewer_positions_than_channels():
    # 8 -> 6 channels on a 2 x 2 map: M = 4 < d = 6, so covariance_isqrt iterates on the 4 x 4
    # Gram matrix: Xc^T Xc M^2 d = 96; 3(N-1) M^3 = 768; Xc Q d M^2 = 96; (Xc Q) Xc^T d^2 M = 144.
    # conv 6*8*4 = 192; linear 21 -> 10 = 210.
    result = count_flops(OpsOnly(8, 6, fused=True).eval(), torch.randn(2, 8, 2, 2))
    gram = 96 + 768 + 96 + 144
    assert result.flops == 2 * (192 + gram + 210)  # batch of 2
    (rec, ) = [r for r in result.gcp_ops if r.op == 'covariance_isqrt']
    assert rec.flops == 2 * gram and 'Gram path, M=4 < d=6' in rec.path


@pytest.mark.parametrize('size, reduced', [(2, 12), (5, 6)])  # Gram path, then M >= d
def test_gcp_neck_matches_torch_flop_counter(size, reduced, monkeypatch):
    """Independent check: torch's FlopCounterMode sees every bmm that really runs (2 per MAC).

    The count is that of the Newton-Schulz iteration (the GPU path, what the papers count), so
    the iteration runs here too instead of the CPU's eigh evaluation of the same function.
    """
    monkeypatch.setenv('MMGCP_ISQRT_METHOD', 'iteration')
    neck = GCPNeck(in_channels=16, reduced_channels=reduced, norm_cfg=None).eval()
    x = torch.randn(3, 16, size, size)

    class NeckOnly(nn.Module):

        def __init__(self):
            super().__init__()
            self.neck = neck

        def forward(self, inp):
            return self.neck(inp)[0]

    counted = count_flops(NeckOnly(), x).flops
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        NeckOnly()(x)
    assert counted == counter.get_total_flops() // 2
    conv = 3 * reduced * 16 * size * size
    assert counted > conv  # the GCP ops are counted on top of the reduction


def test_toy_classifier_configs_gcp_share(repo_root):
    gap = get_flops(f'{repo_root}/configs/toy/resnet18-w16-gap_1xb32_toy.py', shape=[32])
    gcp = get_flops(f'{repo_root}/configs/toy/resnet18-w16-gcp_1xb32_toy.py', shape=[32])
    assert gcp.by_module['backbone'] == gap.by_module['backbone']
    assert list(gcp.gcp_modules) == ['neck']
    kind, neck_flops, _ = gcp.gcp_modules['neck']
    assert kind == 'GCPNeck' and neck_flops > 0
    assert {r.op for r in gcp.gcp_ops} >= {'covariance_isqrt', 'triu_vectorize'}
    # the difference is the neck plus the larger classifier, nothing else
    assert gcp.flops - gap.flops == (neck_flops + gcp.by_module['head'] - gap.by_module['head'] -
                                     gap.by_module.get('neck', 0))
    report = format_flops_report(gcp).splitlines()
    assert report[-2].startswith('Flops: ') and report[-2].endswith('G')
    assert report[-1].startswith('Params: ') and report[-1].endswith('M')
    assert abs(float(report[-2][7:-1]) * 1e9 - gcp.flops) < 1e6


@pytest.mark.slow
def test_detection_and_segmentation_configs(repo_root):
    det = get_flops(f'{repo_root}/configs/toy/det/mask-rcnn_r18-w16-gcp_cov-fpn_1xb4_toy.py',
                    shape=[128])
    assert det.input_shape == (3, 128, 128)
    assert [kind for kind, _, _ in det.gcp_modules.values()] == ['CovAttentionNeck']
    assert all(flops > 0 for _, flops, _ in det.gcp_modules.values())
    assert det.by_module['roi_head'] > 0 and det.by_module['rpn_head'] > 0
    seg = get_flops(f'{repo_root}/configs/toy/seg/upernet-cov_r18-w16-gcp_1xb4_toy-128x128.py')
    assert seg.input_shape == (3, 128, 128)  # the config's crop size
    assert [kind for kind, _, _ in seg.gcp_modules.values()] == ['CovUPerHead']
    # M < d at every level: the fused Gram path runs (see mmgcp/complexity/flops.py)
    assert any(r.op == 'covariance_isqrt' for r in seg.gcp_ops)
