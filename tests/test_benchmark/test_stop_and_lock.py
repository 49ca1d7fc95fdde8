# Copyright (c) mmgcp contributors. All rights reserved.
"""One invocation per work dir (a second one stops at once, a lock left by a killed one does not
block), and stopping the benchmark by a signal stops its workers and runs, which then resume."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest

from mmgcp.benchmark.lock import LOCK_FILE, WorkDirBusyError, WorkDirLock

TINY = ['toy_data.cls.num_train=12', 'toy_data.cls.num_val=3', 'toy_data.cls.img_size=32',
        'toy_data.coco.num_train=2', 'toy_data.coco.num_val=1',
        'toy_data.ade20k.num_train=4', 'toy_data.ade20k.num_val=2',
        'cfg_options.pretrain.train_dataloader.batch_size=16',  # 48 images: 3 iterations
        'cfg_options.pretrain.train_cfg.val_interval=1000',
        'cfg_options.pretrain.default_hooks.checkpoint.interval=1',
        'cfg_options.pretrain.default_hooks.logger.interval=1',
        'cfg_options.ade20k.train_cfg.max_iters=2', 'cfg_options.ade20k.train_cfg.val_interval=2']


def _command(tmp_path, exp, epochs):
    return [sys.executable, 'tools/benchmark_transfer.py', exp, '--seeds', '1',
            '--work-dir', str(tmp_path / 'bench'), '--options', f'toy_data.out_dir={tmp_path}/data',
            f'cfg_options.pretrain.train_cfg.max_epochs={epochs}',
            f'cfg_options.pretrain.param_scheduler.1.end={epochs}', *TINY]


def _start(cmd, repo_root):
    return subprocess.Popen(cmd, cwd=repo_root, env=dict(os.environ, PYTHONPATH=repo_root),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _wait_for(predicate, proc, what, timeout=600):
    deadline = time.time() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f'the benchmark ended before {what}: {proc.stderr.read()[-3000:]}')
        if time.time() > deadline:
            raise AssertionError(f'no {what} within {timeout} s')
        time.sleep(0.2)


def test_lock_of_another_host_is_stale_only_after_its_heartbeat(tmp_path):
    path = tmp_path / LOCK_FILE
    holder = dict(host='node-elsewhere', pid=12345, since='2026-01-01 00:00:00', command='x')
    path.write_text(json.dumps(holder))
    with pytest.raises(WorkDirBusyError, match=r'pid 12345 on node-elsewhere, since 2026-01-01'):
        WorkDirLock(str(tmp_path), stale_after_s=180).acquire()
    old = time.time() - 181
    os.utime(path, (old, old))
    with WorkDirLock(str(tmp_path), stale_after_s=180) as lock:
        assert lock.took_over['host'] == 'node-elsewhere'
        assert json.loads(path.read_text())['pid'] == os.getpid()
    assert not path.exists()


def test_lock_of_a_dead_process_here_is_stale(tmp_path):
    dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'],
                          capture_output=True, text=True).stdout.strip()
    (tmp_path / LOCK_FILE).write_text(json.dumps(dict(host=socket.gethostname(), pid=int(dead))))
    with WorkDirLock(str(tmp_path)) as lock:
        assert lock.took_over['pid'] == int(dead)
    # a live process of this host is not stale
    (tmp_path / LOCK_FILE).write_text(json.dumps(dict(host=socket.gethostname(), pid=1)))
    with pytest.raises(WorkDirBusyError):
        WorkDirLock(str(tmp_path)).acquire()


@pytest.mark.slow
def test_second_invocation_stops_at_once_and_a_killed_ones_lock_does_not_block(
        tmp_path, repo_root, gap_seg_experiment):
    # 200 epochs: still training when the second starts
    cmd = _command(tmp_path, gap_seg_experiment(), epochs=200)
    first = _start(cmd, repo_root)
    lock = tmp_path / 'bench' / LOCK_FILE
    try:
        _wait_for(lock.exists, first, 'lock')
        second = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, timeout=120,
                                env=dict(os.environ, PYTHONPATH=repo_root))
        assert second.returncode != 0
        assert (f'is in use by another benchmark invocation: pid {first.pid} on '
                f'{socket.gethostname()}, since') in second.stderr
        assert first.poll() is None  # the first goes on
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # as a scheduler kills a job: no clean-up
        first.wait()
    assert lock.exists()  # left behind by the killed invocation
    # the next invocation takes the lock over (a dry run: it takes the lock like any other)
    third = subprocess.run(cmd[:2] + ['--dry-run'] + cmd[2:], cwd=repo_root,
                           capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, PYTHONPATH=repo_root))
    assert third.returncode == 0, third.stderr[-3000:]
    assert f'took over the lock left by pid {first.pid}' in third.stdout
    assert not lock.exists()


@pytest.mark.slow
def test_sigterm_stops_workers_and_runs_which_resume(tmp_path, repo_root, gap_seg_experiment):
    epochs = 60  # 3 iterations each: long enough to be stopped while training
    cmd = _command(tmp_path, gap_seg_experiment(), epochs=epochs)
    proc = _start(cmd, repo_root)
    run_dir = tmp_path / 'bench' / 'runs' / 'seed0' / 'gap' / 'pretrain'
    try:
        _wait_for(lambda: (run_dir / 'epoch_2.pth').exists(), proc, 'epoch_2.pth')
        workers = psutil.Process(proc.pid).children(recursive=True)
        assert workers, 'the benchmark runs its runs in worker processes'
        proc.send_signal(signal.SIGTERM)  # to the main process only, as `kill <pid>` does
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 128 + signal.SIGTERM, err[-3000:]
    assert 'stopped by SIGTERM' in err and 'run the same command again' in err
    gone, alive = psutil.wait_procs(workers, timeout=60)
    assert not alive, f'workers left running: {alive}'
    status = json.loads((run_dir / 'status.json').read_text())
    assert status['state'] == 'running' and status['interruptions'], status
    saved = status['interruptions'][-1]['checkpoint']
    assert os.path.basename(saved).startswith('epoch_') and os.path.isfile(saved)

    again = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, timeout=900,
                           env=dict(os.environ, PYTHONPATH=repo_root))
    assert again.returncode == 0, again.stderr[-3000:]
    status = json.loads((run_dir / 'status.json').read_text())
    assert status['state'] == 'done' and status['resumed'] is True
    iterations = []
    for scalars in run_dir.glob('*/vis_data/scalars.json'):
        iterations += [json.loads(line)['iter'] for line in scalars.read_text().splitlines()
                       if 'loss' in json.loads(line)]
    assert sorted(iterations) == list(range(1, epochs * 3 + 1))  # each exactly once
