# Copyright (c) mmgcp contributors. All rights reserved.
"""The benchmark on a real Slurm (the one-node cluster of tools/slurm/start_local_slurm.sh, CPU
jobs on gloo): one job per run, fine-tuning after its pretraining, independent runs at the same
time, a failed job reported with the dependents it cancelled, finished runs kept."""
import json
import os
import os.path as osp
import subprocess
import sys
from datetime import datetime

import pytest

from mmgcp.benchmark.slurm import check_partition, slurm_unavailable

LOCAL_CONF = osp.join(os.environ.get('MMGCP_SLURM_DIR', '/tmp/mmgcp-slurm'), 'slurm.conf')


@pytest.fixture(scope='module')
def slurm(repo_root):
    """A reachable Slurm: the one SLURM_CONF names, else the local one (started if needed)."""
    old = os.environ.get('SLURM_CONF')
    if old is None or slurm_unavailable():
        os.environ['SLURM_CONF'] = LOCAL_CONF
        if slurm_unavailable():
            proc = subprocess.run(['bash', osp.join(repo_root, 'tools/slurm/start_local_slurm.sh')],
                                  capture_output=True, text=True, timeout=300)
            reason = slurm_unavailable()
            if reason:
                pytest.skip(f'no Slurm here and tools/slurm/start_local_slurm.sh could not start '
                            f'one ({proc.returncode}): {proc.stderr[-800:]} / {reason}')
    yield os.environ['SLURM_CONF']
    if old is None:
        os.environ.pop('SLURM_CONF')
    else:
        os.environ['SLURM_CONF'] = old


def _experiment(tmp_path, repo_root):
    """The toy preset cut to one working pretraining and one that fails to build, each
    fine-tuned with UperNet on toy ADE20K (the local cluster has 2 CPUs: 2 jobs at a time)."""
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
    data = tmp_path / 'data'
    options = [f'toy_data.out_dir={data}', 'toy_data.cls.num_train=8', 'toy_data.cls.num_val=2',
               'toy_data.cls.img_size=32', 'toy_data.coco.num_train=2', 'toy_data.coco.num_val=1',
               'toy_data.ade20k.num_train=4', 'toy_data.ade20k.num_val=2',
               'cfg_options.pretrain.train_cfg.max_epochs=2',
               'cfg_options.pretrain.train_cfg.val_interval=2',
               'cfg_options.pretrain.train_dataloader.batch_size=16',
               'cfg_options.ade20k.train_cfg.max_iters=2',
               'cfg_options.ade20k.train_cfg.val_interval=2']
    return str(exp), options


def _time(text):
    return datetime.fromisoformat(text).timestamp()


def test_unknown_partition_is_refused(slurm):
    with pytest.raises(RuntimeError, match="partition 'no-such-part' does not exist"):
        check_partition('no-such-part')


@pytest.mark.slow
def test_toy_benchmark_on_slurm(slurm, tmp_path, repo_root):
    exp, options = _experiment(tmp_path, repo_root)
    work = tmp_path / 'bench'
    cmd = [sys.executable, 'tools/benchmark_transfer.py', exp, '--launcher', 'slurm',
           '--seeds', '1', '--work-dir', str(work), '--wait', '--poll-interval', '1',
           '--options', *options]
    env = dict(os.environ, PYTHONPATH=repo_root, SLURM_CONF=slurm)
    proc = subprocess.run(cmd, cwd=repo_root, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    print(proc.stdout)
    jobs = json.loads((work / 'slurm' / 'jobs.json').read_text())
    assert len({j['job_id'] for j in jobs.values()}) == 4  # one job per run

    results = json.loads((work / 'results.json').read_text())
    rows = {f"{r['variant']}/{r['task']}": r for r in results['runs']}
    for name in ('gap/pretrain', 'gap/ade20k'):
        assert rows[name]['state'] == 'done', (name, rows[name]['error'])
        assert 0 <= rows[name]['mIoU' if 'ade20k' in name else 'accuracy/top1'] <= 100
    # the failure, with the end of its log, and the dependent Slurm cancelled
    assert rows['broken/pretrain']['state'] == 'failed'
    assert 'depth' in rows['broken/pretrain']['error'].splitlines()[-1], rows['broken/pretrain']
    assert rows['broken/ade20k']['state'] == 'cancelled'
    assert 'broken/pretrain/seed0' in rows['broken/ade20k']['error']
    assert 'broken/pretrain/seed0 failed' in proc.stdout
    assert 'broken/ade20k/seed0 cancelled' in proc.stdout

    def status(name):
        return json.loads((work / 'runs' / 'seed0' / name / 'status.json').read_text())

    # dependency order: the fine-tuning started after its pretraining finished
    pre, fine = jobs['gap/pretrain/seed0'], jobs['gap/ade20k/seed0']
    assert _time(fine['start']) >= _time(pre['end'])
    assert status('gap/ade20k')['started'] >= status('gap/pretrain')['finished']
    # the two independent pretrainings ran at the same time (Slurm's start/end times, 1 s)
    broken = jobs['broken/pretrain/seed0']
    overlap = min(_time(pre['end']), _time(broken['end'])) - max(_time(pre['start']),
                                                                 _time(broken['start']))
    assert overlap > 0, jobs
    assert status('broken/pretrain')['started'] < status('gap/pretrain')['finished']
    print(f'pretrainings overlapped {overlap:.0f} s; jobs {jobs}')
    # evaluation ran under srun with --launcher slurm
    log = (work / 'runs' / 'seed0' / 'gap' / 'ade20k' / 'run.log').read_text()
    assert 'srun --ntasks=1' in log and 'tools/test.py' in log and '--launcher slurm' in log

    # the same command again: finished runs collected, nothing resubmitted, nothing rerun
    before = {n: os.path.getmtime(work / 'runs' / 'seed0' / n / 'status.json')
              for n in ('gap/pretrain', 'gap/ade20k')}
    again = subprocess.run(cmd[:-len(options) - 1] + ['--no-retry-failed', '--options', *options],
                           cwd=repo_root, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert 'submitted' not in again.stdout
    assert json.loads((work / 'slurm' / 'jobs.json').read_text()).keys() == jobs.keys()
    assert all(os.path.getmtime(work / 'runs' / 'seed0' / n / 'status.json') == t
               for n, t in before.items())
    assert 'broken/pretrain/seed0 failed' in again.stdout
