# Copyright (c) mmgcp contributors. All rights reserved.
"""The toy transfer benchmark end to end at a reduced size with 2 seeds: a run killed at several
points (before its first checkpoint, right after one appears, during evaluation; deterministic
kills through MMGCP_KILL_AT) resumes and never starts over, every variant x task x seed is
reported with the paired comparisons, the from-scratch control loads no checkpoint, and a further
invocation skips finished runs."""
import csv
import json
import os
import os.path as osp
import signal
import subprocess
import sys

import pytest

# The toy preset with one pretrained variant (GCP and DropCov runs are those of GAP with another
# neck; leaving them out keeps this test within the suite's time) and the scratch control.
PRETRAINED = ('gap', )
TASKS = ('pretrain', 'coco', 'ade20k')
SEEDS = (0, 1)
EXPECTED = {(v, t, s) for s in SEEDS for v in PRETRAINED for t in TASKS} | {
    ('scratch', t, s) for s in SEEDS for t in ('coco', 'ade20k')}


def _tiny_options(data_root):
    """Test-only override of the toy preset: tiny data and schedules."""
    return [
        f'toy_data.out_dir={data_root}',
        'toy_data.cls.num_train=12', 'toy_data.cls.num_val=3', 'toy_data.cls.img_size=48',
        'toy_data.coco.num_train=6', 'toy_data.coco.num_val=3',
        'toy_data.ade20k.num_train=6', 'toy_data.ade20k.num_val=3',
        'cfg_options.pretrain.train_cfg.max_epochs=4',
        'cfg_options.pretrain.train_cfg.val_interval=2',
        'cfg_options.pretrain.param_scheduler.1.end=4',
        'cfg_options.pretrain.train_dataloader.batch_size=16',
        'cfg_options.coco.train_cfg.max_epochs=1', 'cfg_options.coco.train_cfg.val_begin=1',
        'cfg_options.coco.train_cfg.val_interval=1',
        'cfg_options.ade20k.train_cfg.max_iters=4', 'cfg_options.ade20k.train_cfg.val_interval=2',
    ]


def _experiment(tmp_path, repo_root):
    exp = tmp_path / 'exp.py'
    exp.write_text(f"""_base_ = '{repo_root}/configs/benchmark/toy.py'
variants = dict(
    _delete_=True,
    scratch=dict(from_scratch=True, arch='gap'),
    gap=dict(pretrain_config='configs/toy/resnet18-w16-gap_1xb32_toy.py'))
""")
    return str(exp)


def _status(work, variant, task, seed=0):
    path = osp.join(work, 'runs', f'seed{seed}', variant, task, 'status.json')
    return json.load(open(path)) if osp.isfile(path) else {}


def _run(cmd, repo_root, env, kill_at=None, timeout=2400):
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
    cmd = [sys.executable, 'tools/benchmark_transfer.py', _experiment(tmp_path, repo_root),
           '--work-dir', work, '--seeds', '2', '--options', *_tiny_options(str(tmp_path / 'data'))]
    env = dict(os.environ, PYTHONPATH=repo_root)
    run_dir = osp.join(work, 'runs', 'seed0', 'gap', 'pretrain')
    first_ckpt = osp.join(run_dir, 'epoch_1.pth')

    # 1. Killed before the first checkpoint: nothing to resume, the run starts over next time.
    killed = _run(cmd, repo_root, env, 'checkpoint_write:seed0/gap/pretrain/epoch_1.pth')
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert not osp.exists(first_ckpt)
    assert _status(work, 'gap', 'pretrain')['state'] == 'running'

    # 2. Killed right after epoch_1.pth is in place, before mmengine's last_checkpoint marker.
    killed = _run(cmd, repo_root, env, 'checkpoint_written:seed0/gap/pretrain/epoch_1.pth')
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert _status(work, 'gap', 'pretrain')['resumed'] is False
    assert osp.isfile(first_ckpt) and not osp.exists(osp.join(run_dir, 'last_checkpoint'))
    first_mtime = os.stat(first_ckpt).st_mtime_ns

    # 3. Resumes from epoch_1.pth without the marker, trains on; killed during the evaluation.
    killed = _run(cmd, repo_root, env, 'evaluation:seed0/gap/pretrain/')
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    status = _status(work, 'gap', 'pretrain')
    assert status['state'] == 'running' and status['resumed'] is True
    log = open(osp.join(run_dir, 'run.log')).read()
    assert 'resumed epoch: 1' in log
    last_ckpt = osp.join(run_dir, 'epoch_4.pth')
    assert osp.isfile(last_ckpt) and not osp.exists(osp.join(run_dir, 'test_metrics.json'))
    assert not [n for n in os.listdir(run_dir) if n.endswith('.tmp')]  # writes were atomic

    # 4. Run to the end: the killed run resumes from its last checkpoint (no epoch again) and is
    # evaluated; every other run of both seeds runs.
    done = _run(cmd, repo_root, env)
    assert done.returncode == 0, done.stderr[-5000:]
    killed = _status(work, 'gap', 'pretrain')
    assert killed['state'] == 'done' and killed['resumed'] is True
    assert killed['checkpoint'] == last_ckpt
    commands = [line for line in open(osp.join(run_dir, 'run.log')) if line.startswith('$ ')]
    # trained in attempts 1-3 only: the run killed during its evaluation is only evaluated again
    assert [c.split()[2] for c in commands] == ['tools/train.py'] * 3 + ['tools/test.py'] * 2
    assert killed['trained'] == last_ckpt
    assert os.stat(first_ckpt).st_mtime_ns == first_mtime  # never started over

    results = json.load(open(osp.join(work, 'results.json')))
    rows = {(r['variant'], r['task'], r['seed']): r for r in results['runs']}
    assert set(rows) == EXPECTED
    for key, row in rows.items():
        assert row['state'] == 'done', (key, row['error'])
        assert row['wall_time_s'] > 0 and row['peak_rss_mb'] > 50
    for variant, task, seed in rows:
        row = rows[(variant, task, seed)]
        if task == 'pretrain':
            assert 0 <= row['accuracy/top1'] <= 100
        elif task == 'coco':
            assert 0 <= row['coco/bbox_mAP'] <= 1 and 0 <= row['coco/segm_mAP'] <= 1
        else:
            assert 0 <= row['mIoU'] <= 100

    # The control is fine-tuned from random initialisation: its runs load no checkpoint, the
    # pretrained variants' runs load their own pretraining's trunk.
    for seed in SEEDS:
        for task in ('coco', 'ade20k'):
            scratch_log = open(osp.join(work, 'runs', f'seed{seed}', 'scratch', task,
                                        'run.log')).read()
            assert 'model.backbone.init_cfg=None' in scratch_log
            assert 'load backbone.* of' not in scratch_log
            gap_log = open(osp.join(work, 'runs', f'seed{seed}', 'gap', task, 'run.log')).read()
            trunk = osp.join(work, 'runs', f'seed{seed}', 'gap', 'pretrain', 'trunk.pth')
            assert f'load backbone.* of {trunk}' in gap_log

    # Paired comparisons: every pretrained variant against scratch (gap is the only other).
    comparisons = results['comparisons']
    keys = {'variant', 'baseline', 'task', 'metric', 'n', 'mean_diff', 'ci_low', 'ci_high',
            'p_value'}
    assert all(keys <= set(c) for c in comparisons)
    pairs = {(c['variant'], c['baseline'], c['task'], c['metric']) for c in comparisons}
    assert pairs == {('gap', 'scratch', task, metric)
                     for task, metric in (('coco', 'coco/bbox_mAP'), ('coco', 'coco/segm_mAP'),
                                          ('ade20k', 'mIoU'))}
    assert not any(c['variant'] == 'scratch' for c in comparisons)
    for c in comparisons:
        assert c['n'] == 2
        diffs = [rows[(c['variant'], c['task'], s)][c['metric']] -
                 rows[(c['baseline'], c['task'], s)][c['metric']] for s in SEEDS]
        assert c['mean_diff'] == pytest.approx(sum(diffs) / 2, abs=1e-6)
        if c['ci_low'] is not None:
            assert c['ci_low'] <= c['mean_diff'] <= c['ci_high']

    with open(osp.join(work, 'results.csv')) as f:
        csv_rows = list(csv.DictReader(f))
    assert len(csv_rows) == len(EXPECTED)
    assert {'variant', 'task', 'seed', 'mIoU', 'cpu_time_s'} <= set(csv_rows[0])
    report = open(osp.join(work, 'results.md')).read()
    table, comparison = report.split('\n\n')[0], report.split('\n\n')[2]
    assert table.strip() in done.stdout and comparison.strip() in done.stdout
    assert comparison.startswith('| variant | baseline | task: metric | n | mean diff | 95% CI')
    for variant in PRETRAINED + ('scratch', ):
        assert f'| {variant} |' in table
    assert '(n=2)' in table
    for name in ('metrics.png', 'val_curves.png'):
        with open(osp.join(work, name), 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n'

    # 5. A further invocation skips every finished run and leaves them untouched.
    finished = {k: _status(work, k[0], k[1], k[2])['finished'] for k in rows}
    again = subprocess.run(cmd, cwd=repo_root, env=env, capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stderr.count('skipped (done before)') == len(EXPECTED)
    assert {k: _status(work, k[0], k[1], k[2])['finished'] for k in rows} == finished

    # 6. With another budget the finished runs it touches are refused before any work, not
    # reported as if they had run with it; nothing is started or changed.
    changed = subprocess.run(cmd + ['cfg_options.ade20k.train_cfg.max_iters=6'], cwd=repo_root,
                             env=env, capture_output=True, text=True, timeout=300)
    assert changed.returncode != 0
    assert 'error: 4 run(s) in' in changed.stderr
    assert '-train_cfg.max_iters=4; +train_cfg.max_iters=6' in changed.stderr
    assert 'skipped (done before)' not in changed.stderr
    assert {k: _status(work, k[0], k[1], k[2])['finished'] for k in rows} == finished
