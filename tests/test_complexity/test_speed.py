# Copyright (c) mmgcp contributors. All rights reserved.
"""benchmark_model: inference and training-step timing on toy configs of the three libraries."""
import json

import pytest
import torch

from mmgcp.complexity import benchmark_model, format_speed_report

CLS_CFG = 'configs/toy/resnet18-w16-gcp_1xb32_toy.py'


def test_classifier_inference_and_train_step(repo_root):
    cfg = f'{repo_root}/configs/toy/resnet18-w16-dropcov_1xb32_toy.py'
    result = benchmark_model(cfg, shape=[32], batch_size=4, warmup=1, repeats=3)
    assert list(result.phases) == ['inference', 'train_step']
    for phase in result.phases.values():
        assert len(phase.times_s) == 3 and phase.median_s in phase.times_s
        assert phase.images_per_s == pytest.approx(4 / phase.median_s)
        assert phase.peak_mem_mb > 0 and phase.peak_mem_growth_mb >= 0
    report = format_speed_report(result)
    assert 'images/s' in report and 'train_step' in report and 'peak process RSS' in report
    json.dumps(result.to_dict())  # serialisable for --out


def test_bad_arguments_are_refused_before_work_starts(repo_root):
    with pytest.raises(ValueError, match='batch_size >= 1'):
        benchmark_model(f'{repo_root}/{CLS_CFG}', batch_size=0)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match='no CUDA GPU'):
            benchmark_model(f'{repo_root}/{CLS_CFG}', device='cuda')


@pytest.mark.slow
@pytest.mark.parametrize('cfg', [
    'configs/toy/det/mask-rcnn_r18-w16-gcp_fpn_1xb4_toy.py',
    'configs/toy/seg/upernet_r18-w16-gcp_1xb4_toy-128x128.py',
])
def test_detection_and_segmentation(repo_root, cfg):
    result = benchmark_model(f'{repo_root}/{cfg}', shape=[128], batch_size=2, warmup=1,
                             repeats=1)
    assert set(result.phases) == {'inference', 'train_step'}
    assert all(p.images_per_s > 0 for p in result.phases.values())
