# Copyright (c) mmgcp contributors. All rights reserved.
"""tools/train.py, tools/test.py and tools/dist_train.sh on the toy classification configs."""
import json
import os
import os.path as osp
import re
import shutil

import pytest
import torch

import mmgcp  # noqa: F401
from mmgcp.datasets.toy import make_toy_classification
from mmgcp.utils import load_checkpoint_file

GCP_CFG = 'configs/toy/resnet18-w16-gcp_1xb32_toy.py'


@pytest.fixture(scope='module')
def toy_cls(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('toy') / 'cls')
    make_toy_classification(root, num_classes=4, num_train_per_class=12, num_val_per_class=6,
                            img_size=48, seed=0)
    return root


def _data_opts(root, epochs):
    data = [f'{split}_dataloader.dataset.data_root={root}' for split in ('train', 'val', 'test')]
    loaders = [f'{split}_dataloader.num_workers=0' for split in ('train', 'val', 'test')]
    return data + loaders + [f'train_cfg.max_epochs={epochs}', 'train_dataloader.batch_size=16',
                             'train_cfg.val_interval=1']


def _state(path):
    return load_checkpoint_file(path, map_location='cpu', trust=False)


@pytest.mark.slow
def test_train_then_test_then_resume(tool_runner, toy_cls, tmp_path):
    work = str(tmp_path / 'work')
    tool_runner(['tools/train.py', GCP_CFG, '--work-dir', work, '--cfg-options',
                 *_data_opts(toy_cls, 1)])
    ckpt = osp.join(work, 'epoch_1.pth')
    assert osp.isfile(ckpt)
    assert any(k.startswith('neck.reduction.conv') for k in _state(ckpt)['state_dict'])

    # test.py loads the checkpoint through mmengine (torch 2.14 weights_only fix) and evaluates.
    out = str(tmp_path / 'metrics.json')
    proc = tool_runner(['tools/test.py', GCP_CFG, ckpt, '--work-dir', work, '--out', out,
                        '--cfg-options', *_data_opts(toy_cls, 1)])
    metrics = json.load(open(out))
    top1 = metrics['accuracy/top1']
    assert 0.0 <= top1 <= 100.0
    # 24 validation images: top-1 is a multiple of 100/24.
    assert abs(top1 * 24 / 100 - round(top1 * 24 / 100)) < 1e-3
    assert 'accuracy/top1' in proc.stdout + proc.stderr

    # --resume continues from epoch 1 to epoch 2 with the saved optimizer state.
    proc = tool_runner(['tools/train.py', GCP_CFG, '--work-dir', work, '--resume',
                        '--cfg-options', *_data_opts(toy_cls, 2)])
    log = proc.stdout + proc.stderr
    assert re.search(r'resumed epoch: 1', log), log[-3000:]
    second = _state(osp.join(work, 'epoch_2.pth'))
    assert second['meta']['epoch'] == 2
    assert not torch.equal(second['state_dict']['head.fc.weight'],
                           _state(ckpt)['state_dict']['head.fc.weight'])


@pytest.mark.slow
def test_missing_checkpoint_in_test_tool_is_explained(tool_runner, toy_cls, tmp_path):
    proc = tool_runner(['tools/test.py', GCP_CFG, str(tmp_path / 'nope.pth')], check=False)
    assert proc.returncode != 0
    assert 'nope.pth does not exist' in proc.stderr


@pytest.mark.slow
def test_amp_on_cpu_trains_gcp_with_bf16_autocast(tool_runner, toy_cls, tmp_path):
    work = str(tmp_path / 'amp')
    proc = tool_runner(['tools/train.py', GCP_CFG, '--amp', '--work-dir', work, '--no-validate',
                        '--cfg-options', *_data_opts(toy_cls, 1)])
    log = proc.stdout + proc.stderr
    assert 'CPUAmpOptimWrapper' in log
    state = _state(osp.join(work, 'epoch_1.pth'))['state_dict']
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


@pytest.mark.slow
def test_dist_train_two_processes_on_cpu(toy_cls, tmp_path, repo_root, free_port):
    import subprocess
    import sys
    work = str(tmp_path / 'dist')
    env = dict(os.environ, PORT=str(free_port()), OMP_NUM_THREADS='1')
    env['PATH'] = osp.dirname(sys.executable) + os.pathsep + env['PATH']
    proc = subprocess.run(
        ['bash', 'tools/dist_train.sh', GCP_CFG, '2', '--work-dir', work, '--no-validate',
         '--cfg-options', *_data_opts(toy_cls, 1)],
        cwd=repo_root, env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    assert re.search(r'world_size: 2|Distributed launcher: pytorch', log), log[-3000:]
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))
    # 48 training images, 2 ranks x batch 16: 2 iterations per epoch per rank.
    assert re.search(r'Epoch\(train\)\s+\[1\]\[2/2\]', log), log[-3000:]


@pytest.mark.slow
def test_gcp_beats_chance_on_toy_data(tool_runner, tmp_path):
    """On the default toy set GCP must clearly beat chance (25%) after 6 of its 8 epochs."""
    root = str(tmp_path / 'cls')
    make_toy_classification(root, seed=0)
    work = str(tmp_path / 'gcp')
    opts = [f'{k}_dataloader.dataset.data_root={root}' for k in ('train', 'val', 'test')]
    tool_runner(['tools/train.py', GCP_CFG, '--work-dir', work, '--cfg-options', *opts,
                 'train_cfg.max_epochs=6', 'train_cfg.val_interval=6'])
    out = str(tmp_path / 'm.json')
    ckpt = open(osp.join(work, 'last_checkpoint')).read().strip()
    tool_runner(['tools/test.py', GCP_CFG, ckpt, '--out', out, '--work-dir', work,
                 '--cfg-options', *opts])
    top1 = json.load(open(out))['accuracy/top1']
    assert top1 > 40.0, f'toy GCP top-1 {top1:.1f}% is not clearly above chance'
    shutil.rmtree(work, ignore_errors=True)


@pytest.mark.slow
def test_test_refuses_a_checkpoint_that_does_not_cover_the_model(tool_runner, toy_cls, tmp_path):
    # a trunk-only checkpoint: the GCP neck and the head would stay random (chance accuracy)
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(GCP_CFG)
    init_default_scope('mmpretrain')
    state = {k: v for k, v in MODELS.build(cfg.model).state_dict().items()
             if k.startswith('backbone.')}
    ckpt = str(tmp_path / 'trunk.pth')
    torch.save({'state_dict': state, 'meta': {'experiment_name': 'mask-rcnn_x_20260101_000000'}},
               ckpt)
    work = str(tmp_path / 'work')
    proc = tool_runner(['tools/test.py', GCP_CFG, ckpt, '--work-dir', work, '--cfg-options',
                        *_data_opts(toy_cls, 1)], check=False)
    assert proc.returncode != 0
    message = proc.stderr
    assert 'does not cover the model' in message and 'neck.reduction.conv.weight' in message
    assert 'head.fc.weight' in message and 'made for: config mask-rcnn_x' in message
    assert '--allow-partial' in message and 'accuracy/top1' not in proc.stdout + message
    proc = tool_runner(['tools/test.py', GCP_CFG, ckpt, '--work-dir', work, '--allow-partial',
                        '--cfg-options', *_data_opts(toy_cls, 1)])
    assert 'accuracy/top1' in proc.stdout + proc.stderr


@pytest.mark.slow
def test_missing_data_stops_train_before_the_runner(tool_runner, tmp_path):
    work = str(tmp_path / 'work')
    proc = tool_runner(['tools/train.py', GCP_CFG, '--work-dir', work, '--cfg-options',
                        'train_dataloader.dataset.data_root=/nonexist'], check=False)
    assert proc.returncode != 0
    assert "train_dataloader.dataset.data_root = '/nonexist' does not exist" in proc.stderr
    assert 'python tools/dataset_converters/make_toy_data.py cls' in proc.stderr
    assert 'scandir' not in proc.stderr
    assert not osp.exists(work)  # nothing was started
