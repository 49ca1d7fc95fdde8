# Copyright (c) mmgcp contributors. All rights reserved.
"""The toy transfer benchmark end to end at a reduced size: a run killed at several points (before
its first checkpoint, right after one appears, during evaluation; deterministic kills through
MMGCP_KILL_AT) resumes and never starts over, every variant x task is reported, and a further
invocation skips finished runs."""
import csv
import json
import os
import os.path as osp
import signal
import subprocess
import sys

import pytest

VARIANTS = ('gap', 'gcp', 'dropcov')
TASKS = ('pretrain', 'coco', 'ade20k')


def _tiny_options(data_root):
    """Test-only override of the toy preset: tiny data and schedules."""
    return [
        f'toy_data.out_dir={data_root}',
        'toy_data.cls.num_train=12', 'toy_data.cls.num_val=3', 'toy_data.cls.img_size=48',
        'toy_data.coco.num_train=6', 'toy_data.coco.num_val=3',
        'toy_data.ade20k.num_train=6', 'toy_data.ade20k.num_val=3',
        'cfg_options.pretrain.train_cfg.max_epochs=4',
        'cfg_options.pretrain.train_cfg.val_interval=2',
        'cfg_options.pretrain.train_dataloader.batch_size=16',
        'cfg_options.coco.train_cfg.max_epochs=1', 'cfg_options.coco.train_cfg.val_interval=1',
        'cfg_options.ade20k.train_cfg.max_iters=4', 'cfg_options.ade20k.train_cfg.val_interval=2',
    ]


def _status(work, variant, task):
    path = osp.join(work, 'runs', 'seed0', variant, task, 'status.json')
    return json.load(open(path)) if osp.isfile(path) else {}


def _run(cmd, repo_root, env, kill_at=None, timeout=1200):
    """Run the benchmark in its own session; ``kill_at`` arms a deterministic SIGKILL of the
    whole job at a named point (mmgcp.utils.kill_point), as a scheduler would kill it."""
    env = dict(env)
    if kill_at:
        env['MMGCP_KILL_AT'] = kill_at
    return subprocess.run(cmd, cwd=repo_root, env=env, capture_output=True, text=True,
                          timeout=timeout, start_new_session=True)


@pytest.mark.slow
def test_toy_benchmark_resumes_reports_and_skips(tmp_path, repo_root):
    work = str(tmp_path / 'bench')
    cmd = [sys.executable, 'tools/benchmark_transfer.py', 'configs/benchmark/toy.py',
           '--work-dir', work, '--options', *_tiny_options(str(tmp_path / 'data'))]
    env = dict(os.environ, PYTHONPATH=repo_root)
    run_dir = osp.join(work, 'runs', 'seed0', 'gap', 'pretrain')
    first_ckpt = osp.join(run_dir, 'epoch_1.pth')

    # 1. Killed before the first checkpoint: nothing to resume, the run starts over next time.
    killed = _run(cmd, repo_root, env, 'checkpoint_write:gap/pretrain/epoch_1.pth')
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert not osp.exists(first_ckpt)
    assert _status(work, 'gap', 'pretrain')['state'] == 'running'

    # 2. Killed right after epoch_1.pth is in place, before mmengine's last_checkpoint marker.
    killed = _run(cmd, repo_root, env, 'checkpoint_written:gap/pretrain/epoch_1.pth')
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert _status(work, 'gap', 'pretrain')['resumed'] is False
    assert osp.isfile(first_ckpt) and not osp.exists(osp.join(run_dir, 'last_checkpoint'))
    first_mtime = os.stat(first_ckpt).st_mtime_ns

    # 3. Resumes from epoch_1.pth without the marker, trains on; killed during the evaluation.
    killed = _run(cmd, repo_root, env, 'evaluation:gap/pretrain/')
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    status = _status(work, 'gap', 'pretrain')
    assert status['state'] == 'running' and status['resumed'] is True
    log = open(osp.join(run_dir, 'run.log')).read()
    assert 'resumed epoch: 1' in log
    last_ckpt = osp.join(run_dir, 'epoch_4.pth')
    assert osp.isfile(last_ckpt) and not osp.exists(osp.join(run_dir, 'test_metrics.json'))
    assert not [n for n in os.listdir(run_dir) if n.endswith('.tmp')]  # writes were atomic

    # 4. Run to the end: the killed run resumes from its last checkpoint (no epoch again) and is
    # evaluated; everything else runs.
    done = _run(cmd, repo_root, env)
    assert done.returncode == 0, done.stderr[-5000:]
    killed = _status(work, 'gap', 'pretrain')
    assert killed['state'] == 'done' and killed['resumed'] is True
    assert killed['checkpoint'] == last_ckpt
    log = open(osp.join(run_dir, 'run.log')).read()
    assert 'resumed epoch: 4' in log
    assert os.stat(first_ckpt).st_mtime_ns == first_mtime  # never started over

    results = json.load(open(osp.join(work, 'results.json')))
    rows = {(r['variant'], r['task']): r for r in results['runs']}
    assert set(rows) == {(v, t) for v in VARIANTS for t in TASKS}
    for (variant, task), row in rows.items():
        assert row['state'] == 'done', (variant, task, row['error'])
        assert row['wall_time_s'] > 0 and row['peak_rss_mb'] > 50
    for variant in VARIANTS:
        assert 0 <= rows[(variant, 'pretrain')]['accuracy/top1'] <= 100
        assert 0 <= rows[(variant, 'coco')]['coco/bbox_mAP'] <= 1
        assert 0 <= rows[(variant, 'coco')]['coco/segm_mAP'] <= 1
        assert 0 <= rows[(variant, 'ade20k')]['mIoU'] <= 100
    with open(osp.join(work, 'results.csv')) as f:
        csv_rows = list(csv.DictReader(f))
    assert len(csv_rows) == 9 and {'variant', 'task', 'seed', 'mIoU'} <= set(csv_rows[0])
    table = open(osp.join(work, 'results.md')).read()
    assert table.strip() in done.stdout
    for variant in VARIANTS:
        assert f'| {variant} |' in table
    for name in ('metrics.png', 'val_curves.png'):
        with open(osp.join(work, name), 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n'

    # 5. A further invocation skips every finished run and leaves them untouched.
    finished = {k: _status(work, *k)['finished'] for k in rows}
    again = subprocess.run(cmd, cwd=repo_root, env=env, capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stderr.count('skipped (done before)') == 9
    assert {k: _status(work, *k)['finished'] for k in rows} == finished
