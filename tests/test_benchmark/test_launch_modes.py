# Copyright (c) mmgcp contributors. All rights reserved.
"""Launch modes that the other end-to-end tests do not use: ``--launcher pytorch`` executing a
run on two processes (torchrun on gloo), and ``tools/analysis/time_main.py`` (``--profile``)."""
import json
import os
import subprocess
import sys

import pytest

TINY = ['toy_data.cls.num_train=8', 'toy_data.cls.num_val=2', 'toy_data.cls.img_size=32',
        'toy_data.coco.num_train=2', 'toy_data.coco.num_val=1',
        'toy_data.ade20k.num_train=4', 'toy_data.ade20k.num_val=2',
        'cfg_options.pretrain.train_cfg.max_epochs=1',
        'cfg_options.pretrain.train_cfg.val_interval=1',
        'cfg_options.pretrain.param_scheduler.1.end=1',
        'cfg_options.pretrain.train_dataloader.batch_size=16',
        'cfg_options.ade20k.train_cfg.max_iters=2', 'cfg_options.ade20k.train_cfg.val_interval=1']


def _run(args, repo_root, timeout=900):
    return subprocess.run([sys.executable, *args], cwd=repo_root, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, PYTHONPATH=repo_root))


@pytest.mark.slow
def test_pytorch_launcher_runs_a_two_process_recipe(tmp_path, repo_root, gap_seg_experiment):
    # the toy UperNet as a 2-process recipe (2 x 2 images): the name says so, as OpenMMLab's do
    seg = tmp_path / 'upernet_r18-w16-{variant}_2xb2_toy-128x128.py'
    for variant in ('gap', ):
        (tmp_path / f'upernet_r18-w16-{variant}_2xb2_toy-128x128.py').write_text(
            f"_base_ = '{repo_root}/configs/toy/seg/upernet_r18-w16-{variant}_1xb4_toy-128x128.py'"
            '\ntrain_dataloader = dict(batch_size=2)\n')
    exp = gap_seg_experiment(str(seg))
    work = tmp_path / 'bench'
    proc = _run(['tools/benchmark_transfer.py', exp, '--launcher', 'pytorch', '--seeds', '1',
                 '--work-dir', str(work), '--options', f'toy_data.out_dir={tmp_path}/data', *TINY],
                repo_root)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((work / 'results.json').read_text())
    assert [r['state'] for r in results['runs']] == ['done', 'done'], results['runs']
    recipe = results['meta']['recipes']['gap/ade20k/seed0']
    assert (recipe['gpus'], recipe['samples_per_gpu'], recipe['total_batch_size']) == (2, 2, 4)
    run_dir = work / 'runs' / 'seed0' / 'gap' / 'ade20k'
    log = (run_dir / 'run.log').read_text()
    assert 'tools/dist_train.sh' in log and 'tools/dist_test.sh' in log
    assert 'Distributed training: True' in log and 'GPU number: 2' in log  # mmengine's env info
    # each of the 2 ranks saw 2 images: the first batch of rank 0
    assert json.loads((run_dir / 'batch_shape.json').read_text())['inputs'] == [2, 3, 128, 128]


@pytest.mark.slow
def test_time_main_profiles_every_stage(tmp_path, repo_root, gap_seg_experiment):
    exp = gap_seg_experiment()
    work = tmp_path / 'timed'
    proc = _run(['tools/analysis/time_main.py', exp, '--work-dir', str(work), '--seeds', '1',
                 '--options', f'toy_data.out_dir={tmp_path}/data', *TINY], repo_root)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    timing = json.loads((work / 'timing.json').read_text())
    breakdown = timing['breakdown']
    assert breakdown['runs'] == 2 and set(breakdown['by_task']) == {'pretrain', 'ade20k'}
    assert breakdown['stages_cpu_s']['train_step'] > 0 and breakdown['stages_cpu_s']['test'] > 0
    assert 0 < breakdown['runs_cpu_s'] <= timing['cpu_s']
    assert 'CPU by stage (all runs): setup' in proc.stdout
    assert 'one fresh tool process' in proc.stdout
