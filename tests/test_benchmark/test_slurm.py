# Copyright (c) mmgcp contributors. All rights reserved.
"""The benchmark on a real Slurm (the one-node cluster of tools/slurm/start_local_slurm.sh, with
accounting; CPU jobs on gloo): one job per run through submitit, fine-tuning after its
pretraining, final states and exit reasons from sacct, a failed job reported with the dependents
it cancelled, finished runs kept -- and the same report as the local launcher."""
import json
import os
import os.path as osp
import subprocess
import sys
from datetime import datetime

import pytest

from mmgcp.benchmark.launchers.slurm import SlurmError, check_partition, read_sacct

SMALL = ['toy_data.cls.num_train=8', 'toy_data.cls.num_val=2', 'toy_data.cls.img_size=32',
         'toy_data.coco.num_train=2', 'toy_data.coco.num_val=1',
         'toy_data.ade20k.num_train=4', 'toy_data.ade20k.num_val=2',
         'cfg_options.pretrain.train_cfg.max_epochs=2',
         'cfg_options.pretrain.train_cfg.val_interval=1',
         'cfg_options.pretrain.param_scheduler.1.end=2',
         'cfg_options.pretrain.train_dataloader.batch_size=16',
         'cfg_options.coco.train_cfg.max_epochs=1', 'cfg_options.coco.train_cfg.val_begin=1',
         'cfg_options.coco.train_cfg.val_interval=1',
         'cfg_options.ade20k.train_cfg.max_iters=2', 'cfg_options.ade20k.train_cfg.val_interval=1']


def _run(cmd, repo_root, slurm_conf, timeout=1200):
    env = dict(os.environ, PYTHONPATH=repo_root, SLURM_CONF=slurm_conf)
    return subprocess.run(cmd, cwd=repo_root, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _time(text):
    return datetime.fromisoformat(text).timestamp()


def test_unknown_partition_is_refused(slurm):
    with pytest.raises(SlurmError, match="partition 'no-such-part' does not exist"):
        check_partition('no-such-part')


@pytest.mark.slow
def test_local_and_slurm_write_the_same_report(slurm, tmp_path, repo_root):
    """One driver: the same reduced toy experiment (2 seeds, scratch + gap + gcp) through
    --launcher none and --launcher slurm gives the same comparisons (scratch included) and
    metric plots with the from-scratch control's line."""
    from mmgcp.benchmark.experiment import Run
    from mmgcp.benchmark.plots import metrics_figure
    exp = tmp_path / 'exp.py'
    exp.write_text(f"""_base_ = '{repo_root}/configs/benchmark/toy.py'
variants = dict(
    _delete_=True,
    scratch=dict(from_scratch=True, arch='gap'),
    gap=dict(pretrain_config='configs/toy/resnet18-w16-gap_1xb32_toy.py'),
    gcp=dict(pretrain_config='configs/toy/resnet18-w16-gcp_1xb32_toy.py'))
""")
    options = [f'toy_data.out_dir={tmp_path}/data', *SMALL]
    reports = {}
    for launcher in ('none', 'slurm'):
        work = tmp_path / launcher
        cmd = [sys.executable, 'tools/benchmark_transfer.py', str(exp), '--launcher', launcher,
               '--seeds', '2', '--work-dir', str(work)]
        if launcher == 'slurm':
            cmd += ['--wait', '--poll-interval', '1']
        proc = _run(cmd + ['--options', *options], repo_root, slurm)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
        results = json.loads((work / 'results.json').read_text())
        assert results['meta']['launcher'] == launcher and results['meta']['scratch'] == 'scratch'
        assert all(r['state'] == 'done' for r in results['runs']), [
            (r['variant'], r['task'], r['error']) for r in results['runs']]
        reports[launcher] = results
        # the metric plot of this report draws the control's mean in every fine-tuning panel
        plan = json.loads((work / 'plan.json').read_text())
        runs = [Run.from_dict(r) for r in plan['runs']]
        fig = metrics_figure(runs, results['summary'], results['meta']['scratch'])
        for ax in fig.axes:
            if ax.get_title().startswith('pretrain'):
                continue
            labels = [line.get_label() for line in ax.get_lines() if line.get_linestyle() == '--']
            assert 'scratch (mean)' in labels, (launcher, ax.get_title(), labels)
        assert (work / 'metrics.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'

    def keys(results):
        return sorted((c['variant'], c['baseline'], c['task'], c['metric'])
                      for c in results['comparisons'])

    assert keys(reports['slurm']) == keys(reports['none'])
    assert ('gcp', 'scratch', 'coco', 'coco/bbox_mAP') in keys(reports['none'])
    assert ('gcp', 'gap', 'pretrain', 'accuracy/top1') in keys(reports['none'])
    # the Slurm runs were jobs: each with its job id and sacct's final state
    jobs = json.loads((tmp_path / 'slurm' / 'slurm' / 'jobs.json').read_text())
    assert len(jobs) == 2 * (2 + 3 * 2)
    attempts = read_sacct([j['job_id'] for j in jobs.values()])
    assert {a[-1]['State'] for a in attempts.values()} == {'COMPLETED'}


def _failing_experiment(tmp_path, repo_root):
    """The toy preset cut to one working pretraining and one that fails to build, each
    fine-tuned with UperNet on toy ADE20K."""
    seg = osp.join(repo_root, 'configs/toy/seg/upernet_r18-w16-gap_1xb4_toy-128x128.py')
    for variant in ('gap', 'broken'):
        (tmp_path / f'upernet_{variant}_1xb4_toy.py').write_text(f"_base_ = '{seg}'\n")
    (tmp_path / 'resnet18-broken_1xb32_toy.py').write_text(
        f"_base_ = '{repo_root}/configs/toy/resnet18-w16-gap_1xb32_toy.py'\n"
        "model = dict(backbone=dict(depth=7))  # no ResNet-7: fails when the model is built\n")
    exp = tmp_path / 'exp.py'
    exp.write_text(f"""_base_ = '{repo_root}/configs/benchmark/toy.py'
variants = dict(
    _delete_=True,
    gap=dict(pretrain_config='configs/toy/resnet18-w16-gap_1xb32_toy.py'),
    broken=dict(pretrain_config='{tmp_path}/resnet18-broken_1xb32_toy.py'))
tasks = dict(_delete_=True, ade20k=dict(
    kind='seg', config='{tmp_path}/upernet_{{variant}}_1xb4_toy.py', metrics=['mIoU']))
""")
    return str(exp), [f'toy_data.out_dir={tmp_path}/data', *SMALL]


@pytest.mark.slow
def test_failures_come_from_sacct_with_their_dependents(slurm, tmp_path, repo_root):
    exp, options = _failing_experiment(tmp_path, repo_root)
    work = tmp_path / 'bench'
    cmd = [sys.executable, 'tools/benchmark_transfer.py', exp, '--launcher', 'slurm',
           '--seeds', '1', '--work-dir', str(work), '--wait', '--poll-interval', '1']
    proc = _run(cmd + ['--options', *options], repo_root, slurm)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    jobs = json.loads((work / 'slurm' / 'jobs.json').read_text())
    assert len({j['job_id'] for j in jobs.values()}) == 4  # one job per run

    results = json.loads((work / 'results.json').read_text())
    rows = {f"{r['variant']}/{r['task']}": r for r in results['runs']}
    for name in ('gap/pretrain', 'gap/ade20k'):
        assert rows[name]['state'] == 'done', (name, rows[name]['error'])
    # the failure, from sacct (FAILED, its exit code) with the end of its log
    failed = rows['broken/pretrain']
    assert failed['state'] == 'failed'
    assert f"job {jobs['broken/pretrain/seed0']['job_id']} FAILED: exited with an error" in \
        failed['error']
    assert 'depth' in failed['error']
    # ... and the dependent that Slurm cancelled
    assert rows['broken/ade20k']['state'] == 'cancelled'
    assert 'broken/pretrain/seed0 did not finish' in rows['broken/ade20k']['error']
    assert 'broken/pretrain/seed0 failed' in proc.stdout
    assert 'broken/ade20k/seed0 cancelled' in proc.stdout
    attempts = read_sacct([jobs['broken/ade20k/seed0']['job_id']])
    assert attempts[jobs['broken/ade20k/seed0']['job_id']][-1]['State'].startswith('CANCELLED')

    def status(name):
        return json.loads((work / 'runs' / 'seed0' / name / 'status.json').read_text())

    # dependency order: the fine-tuning started after its pretraining finished
    assert status('gap/ade20k')['started'] >= status('gap/pretrain')['finished']
    assert json.loads((work / 'runs' / 'seed0' / 'gap' / 'ade20k' / 'batch_shape.json')
                      .read_text())['inputs'] == [4, 3, 128, 128]

    # the same command again: finished runs collected, nothing resubmitted, nothing rerun
    before = {n: os.path.getmtime(work / 'runs' / 'seed0' / n / 'status.json')
              for n in ('gap/pretrain', 'gap/ade20k')}
    again = _run(cmd + ['--no-retry-failed', '--options', *options], repo_root, slurm, 300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert 'submitted' not in again.stdout
    assert json.loads((work / 'slurm' / 'jobs.json').read_text()) == jobs
    assert all(os.path.getmtime(work / 'runs' / 'seed0' / n / 'status.json') == t
               for n, t in before.items())
    assert 'broken/pretrain/seed0 failed' in again.stdout


@pytest.mark.slow
def test_a_run_stopped_by_its_time_limit_saves_requeues_and_resumes(slurm, tmp_path, repo_root,
                                                                     gap_seg_experiment):
    """--slurm-time 2 with the signal 60 s before it (Slurm sends it 35-55 s into a job): a
    toy pretraining of about 70 s of training cannot finish in one start. Its job saves a
    checkpoint at the signal, requeues itself and the next start resumes inside the epoch it
    stopped in: every training iteration runs exactly once over all starts."""
    exp = gap_seg_experiment()
    epochs = 120  # 8 iterations each on the default toy set
    options = [f'toy_data.out_dir={tmp_path}/data', 'toy_data.coco.num_train=2',
               'toy_data.coco.num_val=1', 'toy_data.ade20k.num_train=4',
               'toy_data.ade20k.num_val=2',
               f'cfg_options.pretrain.train_cfg.max_epochs={epochs}',
               'cfg_options.pretrain.train_cfg.val_interval=1000',
               f'cfg_options.pretrain.param_scheduler.1.end={epochs}',
               'cfg_options.pretrain.default_hooks.checkpoint.interval=1000',
               'cfg_options.pretrain.default_hooks.logger.interval=1',
               'cfg_options.ade20k.train_cfg.max_iters=2',
               'cfg_options.ade20k.train_cfg.val_interval=2']
    work = tmp_path / 'bench'
    cmd = [sys.executable, 'tools/benchmark_transfer.py', exp, '--launcher', 'slurm',
           '--seeds', '1', '--work-dir', str(work), '--wait', '--poll-interval', '2',
           '--slurm-time', '2', '--slurm-signal-delay', '60', '--options', *options]
    proc = _run(cmd, repo_root, slurm, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    results = json.loads((work / 'results.json').read_text())
    assert all(r['state'] == 'done' for r in results['runs']), results['runs']

    run_dir = work / 'runs' / 'seed0' / 'gap' / 'pretrain'
    status = json.loads((run_dir / 'status.json').read_text())
    # stopped at least once by the time limit, each time after saving a checkpoint
    assert status['interruptions'], status
    for stop in status['interruptions']:
        assert osp.basename(stop['checkpoint']).startswith('epoch_'), stop
    job_id = json.loads((work / 'slurm' / 'jobs.json').read_text())['gap/pretrain/seed0'][
        'job_id']
    attempts = read_sacct([job_id])[job_id]
    assert [a['State'] for a in attempts[:-1]] == ['REQUEUED'] * (len(attempts) - 1)
    assert len(attempts) == len(status['interruptions']) + 1
    assert attempts[-1]['State'] == 'COMPLETED'
    # every iteration trained exactly once over all starts (the logger writes each one)
    iterations = []
    for scalars in sorted(run_dir.glob('*/vis_data/scalars.json')):
        for line in scalars.read_text().splitlines():
            record = json.loads(line)
            if 'loss' in record:
                iterations.append(record['iter'])
    assert sorted(iterations) == list(range(1, epochs * 8 + 1))
    assert len(list(run_dir.glob('*/vis_data/scalars.json'))) == len(attempts)
    # the fine-tuning job waited for it through the requeues and started from its trunk
    log = (work / 'runs' / 'seed0' / 'gap' / 'ade20k' / 'run.log').read_text()
    assert f'load backbone.* of {run_dir}/trunk.pth' in log
