# Copyright (c) mmgcp contributors. All rights reserved.
"""End to end: train with the hook from a config, plot the bands, measure flatness."""
import json
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

CONFIG = """
_base_ = 'mmpretrain::_base_/default_runtime.py'
custom_imports = dict(imports=['mmgcp'], allow_failed_imports=False)
model = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth=18, stem_channels=4, base_channels=4, out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=2, in_channels=32,
              loss=dict(type='CrossEntropyLoss'), topk=(1, )))
data_preprocessor = dict(num_classes=2, mean=[127.5] * 3, std=[64.0] * 3, to_rgb=True)
train_dataloader = dict(
    batch_size=4, num_workers=0,
    dataset=dict(type='CustomDataset', data_root=r'{data_root}', data_prefix='train',
                 pipeline=[dict(type='LoadImageFromFile'), dict(type='PackInputs')]),
    sampler=dict(type='DefaultSampler', shuffle=True))
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9))
train_cfg = dict(by_epoch=True, max_epochs=1)
default_hooks = dict(logger=dict(type='LoggerHook', interval=1))
custom_hooks = [dict(type='mmgcp.LossLandscapeHook', interval=1, eta_range=(0.1, 5), num_steps=4)]
"""


#: Tiny models run fastest on one thread, and far faster on a busy machine.
ONE_THREAD = dict(OMP_NUM_THREADS='1')


def write_tiny_image_folder(root: str, per_class: int = 4) -> None:
    rng = np.random.default_rng(0)
    for label, name in enumerate(['a', 'b']):
        folder = osp.join(root, 'train', name)
        os.makedirs(folder)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) // (label + 1)
            Image.fromarray(pixels).save(osp.join(folder, f'{i}.png'))


@pytest.mark.slow
def test_train_plot_and_flatness(tmp_path, tool_runner):
    write_tiny_image_folder(str(tmp_path / 'data'))
    config = tmp_path / 'tiny_landscape.py'
    config.write_text(CONFIG.replace('{data_root}', str(tmp_path / 'data')))
    work_dir = tmp_path / 'work'
    tool_runner(['tools/train.py', str(config), '--work-dir', str(work_dir)], env=ONE_THREAD)

    bands = tmp_path / 'bands.json'
    out = tool_runner([
        'tools/analysis/plot_landscape.py', str(work_dir), '--labels', 'tiny', '--out',
        str(tmp_path / 'bands.png'), '--out-json', str(bands)
    ]).stdout
    assert '| tiny | 2 |' in out  # 8 images, batch 4: probes at steps 0 and 1
    probes = json.loads(bands.read_text())['tiny']['probes']
    assert probes['step'] == [0, 1]
    assert all(lo <= hi for lo, hi in zip(probes['loss_min'], probes['loss_max']))
    assert (tmp_path / 'bands.png').stat().st_size > 0

    flat_dir = tmp_path / 'flat'
    tool_runner([
        'tools/analysis/flatness.py', str(config), str(work_dir / 'epoch_1.pth'), '--out-dir',
        str(flat_dir), '--num-batches', '1', '--num-points', '5', '--surface-2d',
        '--num-points-2d', '3', '--hessian-iters', '3'
    ], env=ONE_THREAD)
    result = json.loads((flat_dir / 'flatness.json').read_text())
    assert len(result['curve_1d']['losses']) == 5
    assert result['curve_1d']['losses'][2] == pytest.approx(result['loss'], rel=1e-5)
    assert np.array(result['surface_2d']['losses']).shape == (3, 3)
    assert result['hessian']['hvp_method'] == 'autograd'
    assert len(result['hessian']['history']) >= 1
    for name in ('loss_curve_1d.png', 'loss_surface_2d.png'):
        assert (flat_dir / name).stat().st_size > 0

    out = tool_runner([
        'tools/analysis/plot_flatness.py', str(flat_dir / 'flatness.json'), '--labels', 'tiny',
        '--out', str(tmp_path / 'flat.png')
    ]).stdout
    assert '| tiny |' in out and (tmp_path / 'flat.png').stat().st_size > 0
