# Copyright (c) mmgcp contributors. All rights reserved.
"""TensorBoard logging next to mmengine's scalars, read back with TensorBoard's own reader."""
import glob
import json
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.visualization import Visualizer
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import mmgcp  # noqa: F401
from mmgcp.datasets.toy import make_toy_classification
from mmgcp.utils import apply_tensorboard_key, enable_benchmark_tensorboard, enable_tensorboard

GCP_CFG = 'configs/toy/resnet18-w16-gcp_1xb32_toy.py'


def _read_events(folder):
    (event_file, ) = glob.glob(osp.join(folder, 'events.out.tfevents.*'))
    acc = EventAccumulator(event_file)
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()['scalars']}


def test_enable_tensorboard_adds_the_backend_once(repo_root):
    cfg = Config.fromfile(f'{repo_root}/{GCP_CFG}')
    enable_tensorboard(cfg)
    enable_tensorboard(cfg)
    types = [b['type'] for b in cfg.visualizer.vis_backends]
    assert types.count('TensorboardVisBackend') == 1 and 'LocalVisBackend' in types
    keyed = Config(dict(visualizer=dict(type='Visualizer', vis_backends=[]), tensorboard=True))
    apply_tensorboard_key(keyed)
    assert [b['type'] for b in keyed.visualizer.vis_backends] == ['TensorboardVisBackend']
    assert 'tensorboard' not in keyed  # consumed, the Runner never sees it
    with pytest.raises(KeyError, match='no `visualizer`'):
        enable_tensorboard(Config(dict(model=dict())))


def test_benchmark_option_reaches_every_run(repo_root):
    from mmgcp.benchmark import expand_runs, load_experiment
    exp = enable_benchmark_tensorboard(load_experiment(f'{repo_root}/configs/benchmark/toy.py'))
    runs = expand_runs(exp, 'work_dirs/x', [0])
    assert runs and all('tensorboard=True' in run.cfg_options for run in runs)


def test_scalars_reach_both_backends(repo_root, tmp_path):
    cfg = enable_tensorboard(Config.fromfile(f'{repo_root}/{GCP_CFG}'))
    vis = Visualizer(name='tb_test', vis_backends=cfg.visualizer.vis_backends,
                     save_dir=str(tmp_path))
    for step in range(3):
        vis.add_scalars({'loss': 1.0 / (step + 1)}, step=step)
    vis.close()
    events = _read_events(osp.join(tmp_path, 'vis_data'))
    assert events['loss'] == [(0, 1.0), (1, 0.5), (2, pytest.approx(1 / 3))]
    with open(osp.join(tmp_path, 'vis_data', 'scalars.json')) as f:
        assert [json.loads(line)['loss'] for line in f] == [1.0, 0.5, pytest.approx(1 / 3)]


@pytest.mark.slow
def test_train_tool_writes_events_and_mim_log_tool_plots_them(tool_runner, tmp_path):
    """`tools/train.py --tensorboard`, then mmpretrain's analyze_logs through `mim run`."""
    root = str(tmp_path / 'cls')
    make_toy_classification(root, num_classes=4, num_train_per_class=8, num_val_per_class=2,
                            img_size=32, seed=0)
    work = str(tmp_path / 'work')
    opts = [f'{s}_dataloader.dataset.data_root={root}' for s in ('train', 'val', 'test')]
    opts += [f'{s}_dataloader.num_workers=0' for s in ('train', 'val', 'test')]
    opts += ['train_cfg.max_epochs=1', 'train_dataloader.batch_size=8',
             'default_hooks.logger.interval=1']
    tool_runner(['tools/train.py', GCP_CFG, '--work-dir', work, '--tensorboard',
                 '--no-validate', '--cfg-options', *opts])
    (vis_data, ) = glob.glob(osp.join(work, '*', 'vis_data'))
    with open(osp.join(vis_data, 'scalars.json')) as f:
        logged = [json.loads(line) for line in f]
    events = _read_events(vis_data)
    assert [step for step, _ in events['loss']] == [rec['step'] for rec in logged]
    assert [v for _, v in events['loss']] == pytest.approx([rec['loss'] for rec in logged])
    assert len(logged) == 4  # 32 images / batch 8, logged every iteration

    plot = str(tmp_path / 'loss.png')
    proc = tool_runner(['-m', 'mim', 'run', 'mmpretrain', 'analyze_logs', 'plot_curve',
                        osp.join(vis_data, 'scalars.json'), '--keys', 'loss', '--out', plot])
    assert osp.getsize(plot) > 1000, proc.stdout[-2000:]
