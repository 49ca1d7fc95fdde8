# Copyright (c) mmgcp contributors. All rights reserved.
"""tools/dist_test.sh (torchrun, 2 processes on gloo) and tools/slurm_train.sh (srun on a real
Slurm), on the toy classifier of tests/conftest.py."""
import json
import os
import os.path as osp
import re
import signal
import subprocess
import sys

import pytest

from mmgcp.utils import load_checkpoint_file

pytestmark = pytest.mark.slow


def _tool_env(**extra) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS='1', **extra)
    # the scripts call `python`: the interpreter of this venv
    env['PATH'] = osp.dirname(sys.executable) + os.pathsep + env.get('PATH', '')
    return env


def test_dist_test_on_two_processes_gives_the_single_process_metrics(toy_classifier, free_port,
                                                                     tmp_path, repo_root):
    out = str(tmp_path / 'metrics.json')
    proc = subprocess.run(
        ['bash', 'tools/dist_test.sh', toy_classifier['config'], toy_classifier['checkpoint'], '2',
         '--work-dir', str(tmp_path / 'work'), '--out', out],
        cwd=repo_root, env=_tool_env(PORT=str(free_port())), capture_output=True, text=True,
        timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    assert 'Distributed launcher: pytorch' in log, log[-3000:]
    # 11 images, batch 4: 3 batches in one process, 2 per rank when 2 ranks share them
    assert re.search(r'Epoch\(test\)\s+\[2/2\]', log), log[-3000:]
    with open(out) as f:
        metrics = json.load(f)
    # 11 test images on 2 ranks (6 + 6, one padded): the padded one must not count
    for key in toy_classifier['metrics']:  # top-1 and macro precision / recall / F1
        assert metrics[key] == pytest.approx(toy_classifier['metrics'][key], abs=1e-4), key


def test_slurm_train_leaves_a_checkpoint_and_a_log(slurm_conf, toy_classifier, tmp_path,
                                                   repo_root):
    work = str(tmp_path / 'work')
    job = f'mmgcp-test-{os.getpid()}'
    # a CPU cluster: no GPUs to ask for, one task on one CPU
    env = _tool_env(SLURM_CONF=slurm_conf, GPUS='1', GPUS_PER_NODE='0', CPUS_PER_TASK='1')
    proc = subprocess.Popen(
        ['bash', 'tools/slurm_train.sh', 'debug', job, toy_classifier['config'], work,
         '--no-validate'],
        cwd=repo_root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    try:
        log, _ = proc.communicate(timeout=900)  # the queue wait included
    except subprocess.TimeoutExpired:
        # leave no job behind on the cluster, nor the srun waiting for it
        subprocess.run(['scancel', '--name', job], env=env, timeout=60)
        os.killpg(proc.pid, signal.SIGKILL)
        log, _ = proc.communicate()
        pytest.fail(f'{job} did not finish in 900 s (is the partition busy? `squeue`):\n'
                    f'{log[-3000:]}')
    assert proc.returncode == 0, log[-5000:]
    checkpoint = osp.join(work, 'epoch_1.pth')
    assert osp.isfile(checkpoint), log[-3000:]
    state = load_checkpoint_file(checkpoint, map_location='cpu', trust=False)
    assert state['meta']['epoch'] == 1 and 'neck.reduction.conv.weight' in state['state_dict']
    logs = [osp.join(root, f) for root, _, files in os.walk(work) for f in files
            if f.endswith('.log')]
    assert len(logs) == 1, logs
    text = open(logs[0]).read()
    assert 'Distributed launcher: slurm' in text  # srun's environment, on gloo
    assert re.search(r'Epoch\(train\)\s+\[1\]\[2/2\]', text), text[-3000:]
    assert 'Saving checkpoint at 1 epochs' in text
