# Copyright (c) mmgcp contributors. All rights reserved.
"""Shared fixtures. ``tests`` is deliberately not a package: mmdet and mmseg install one."""
import os
import os.path as osp
import socket
import subprocess
import sys
from typing import List, Optional

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='session')
def repo_root() -> str:
    """Absolute path of the repository root."""
    return REPO_ROOT


def run_tool(args: List[str], cwd: Optional[str] = None, timeout: int = 600,
             env: Optional[dict] = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``python <args>`` from the repo root the way a user would, capturing output.

    On failure the tool's output is part of the assertion message.
    """
    full_env = dict(os.environ)
    full_env.setdefault('OMP_NUM_THREADS', '2')
    full_env['PYTHONPATH'] = REPO_ROOT + os.pathsep + full_env.get('PYTHONPATH', '')
    full_env.update(env or {})
    proc = subprocess.run([sys.executable] + args, cwd=cwd or REPO_ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f'`python {" ".join(args)}` exited with {proc.returncode}\n'
                             f'--- stdout ---\n{proc.stdout[-6000:]}\n'
                             f'--- stderr ---\n{proc.stderr[-6000:]}')
    return proc


@pytest.fixture(scope='session')
def tool_runner():
    """The :func:`run_tool` helper as a fixture."""
    return run_tool


class _RunsCommandWhenLoaded:
    """Unpickling it runs ``touch <target>``: what a malicious checkpoint does with any command."""

    def __init__(self, target: str):
        self.target = target

    def __reduce__(self):
        return (os.system, (f'touch {self.target}', ))


#: How the crafted checkpoints' pickle names the function they call (``posix.system`` on Linux).
CRAFTED_GLOBAL = f'{os.system.__module__}.system'


@pytest.fixture
def crafted_checkpoint(tmp_path, monkeypatch):
    """``make(name, checkpoint=None, legacy=False) -> (path, marker)``: save ``checkpoint``
    (default: a one-tensor state dict) with an object in its ``meta`` whose unpickling creates
    ``marker``; ``make.global_name`` is the function the pickle names. The test runs with
    ``MMGCP_TRUST_CHECKPOINT`` unset, whatever the caller's shell has."""
    import torch
    monkeypatch.delenv('MMGCP_TRUST_CHECKPOINT', raising=False)

    def make(name: str = 'crafted.pth', checkpoint: Optional[dict] = None, legacy: bool = False):
        marker = tmp_path / f'{name}.code_ran'
        checkpoint = dict(checkpoint or {'state_dict': {'weight': torch.zeros(2)}})
        checkpoint['meta'] = dict(checkpoint.get('meta') or {},
                                  note=_RunsCommandWhenLoaded(str(marker)))
        path = str(tmp_path / name)
        torch.save(checkpoint, path, _use_new_zipfile_serialization=not legacy)
        return path, marker

    make.global_name = CRAFTED_GLOBAL
    return make


@pytest.fixture(autouse=True)
def restore_default_scope():
    """Give every test mmengine's default scope as it found it.

    ``init_default_scope`` and a Runner create a global ``DefaultScope`` instance that outlives
    the test; a later test then builds ``type='X'`` in another library's registry, and passes or
    fails by the order the tests ran in.
    """
    from mmengine.registry import DefaultScope
    saved = DefaultScope._instance_dict.copy()
    yield
    DefaultScope._instance_dict = saved


def get_free_port() -> int:
    """A TCP port of 127.0.0.1 that no process listens on, chosen by the OS (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture
def free_port():
    """The :func:`get_free_port` helper as a fixture (rendezvous ports of torchrun)."""
    return get_free_port


#: Test metrics of :func:`toy_classifier`'s config: top-1 and the macro precision / recall / F1,
#: which move with every changed prediction (top-1 alone can hide swapped ones).
TOY_CLASSIFIER_METRICS = ('accuracy/top1', 'single-label/precision', 'single-label/recall',
                          'single-label/f1-score')


@pytest.fixture(scope='session')
def toy_classifier(tmp_path_factory) -> dict:
    """A toy GCP classifier trained for 2 iterations by ``tools/train.py``, and its test metrics.

    The config (a file inheriting ``configs/toy/resnet18-w16-gcp_1xb32_toy.py``) holds the data
    root, so tools run it without options. The test split has 11 images, an odd number: two
    processes see 6 each (one padded), which the evaluation must not count twice.

    Returns:
        dict: ``config``, ``checkpoint``, ``data_root``, ``work_dir`` and ``metrics`` (the
        single-process ``tools/test.py`` metrics of the checkpoint, :data:`TOY_CLASSIFIER_METRICS`).
    """
    import json

    from mmgcp.datasets.toy import make_toy_classification
    root = tmp_path_factory.mktemp('toy_classifier')
    data = make_toy_classification(str(root / 'cls'), num_classes=4, num_train_per_class=4,
                                   num_val_per_class=3, img_size=48, seed=0)
    val_dir = osp.join(data['root'], 'val')
    last_class = sorted(os.listdir(val_dir))[-1]
    os.remove(osp.join(val_dir, last_class, sorted(os.listdir(osp.join(val_dir, last_class)))[0]))
    config = root / 'toy_gcp.py'
    config.write_text(f"""_base_ = '{REPO_ROOT}/configs/toy/resnet18-w16-gcp_1xb32_toy.py'
data_root = '{data['root']}'
train_dataloader = dict(batch_size=8, num_workers=0, dataset=dict(data_root=data_root))
val_dataloader = dict(batch_size=4, num_workers=0, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = [dict(type='Accuracy', topk=(1, )), dict(type='SingleLabelMetric')]
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=1, val_interval=1)
""")
    work = str(root / 'work')
    env = {'OMP_NUM_THREADS': '1'}
    run_tool(['tools/train.py', str(config), '--work-dir', work, '--no-validate'], env=env)
    checkpoint = osp.join(work, 'epoch_1.pth')
    assert osp.isfile(checkpoint)
    out = str(root / 'test_metrics.json')
    run_tool(['tools/test.py', str(config), checkpoint, '--work-dir', work, '--out', out], env=env)
    with open(out) as f:
        metrics = json.load(f)
    assert set(TOY_CLASSIFIER_METRICS) <= set(metrics), metrics
    return dict(config=str(config), checkpoint=checkpoint, data_root=data['root'], work_dir=work,
                metrics=metrics)


#: The cluster of tools/slurm/start_local_slurm.sh.
LOCAL_SLURM_CONF = osp.join(os.environ.get('MMGCP_SLURM_DIR', '/tmp/mmgcp-slurm'), 'slurm.conf')


def _slurm_unusable(conf: str) -> Optional[str]:
    """Why the Slurm of ``conf`` cannot be used (no controller, no accounting), or None."""
    if not osp.isfile(conf):  # a client would retry reading it for a minute
        return f'{conf} does not exist'
    env = dict(os.environ, SLURM_CONF=conf)
    for cmd in (['sinfo', '-h', '-o', '%a'], ['sacct', '-n', '-X', '-j', '1']):
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=90)
        except FileNotFoundError:
            return f'`{cmd[0]}` is not installed'
        except subprocess.TimeoutExpired:
            return f'`{" ".join(cmd)}` did not answer in 90 s'
        if proc.returncode != 0:
            return f'`{" ".join(cmd)}` failed: {(proc.stderr or proc.stdout).strip()[-500:]}'
    return None


@pytest.fixture(scope='session')
def slurm_conf() -> str:
    """``SLURM_CONF`` of a reachable Slurm with accounting (sacct): the one SLURM_CONF names,
    else the local cluster, started with tools/slurm/start_local_slurm.sh when it does not run.
    Every test that needs it uses its own folders (tmp_path). Under ``CI=true`` a missing Slurm
    fails the test -- CI must cover the cluster path --; elsewhere it is a skip that names it."""
    import fcntl
    conf = os.environ.get('SLURM_CONF')
    reason = _slurm_unusable(conf) if conf else 'SLURM_CONF is unset'
    if reason:
        conf = LOCAL_SLURM_CONF
        start = osp.join(REPO_ROOT, 'tools', 'slurm', 'start_local_slurm.sh')
        # test workers (pytest-xdist) start the one local cluster one after the other
        with open(osp.join(osp.dirname(osp.dirname(conf)), '.mmgcp-slurm-start.lock'), 'w') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            proc = subprocess.run(['bash', start], capture_output=True, text=True, timeout=600,
                                  env=dict(os.environ, SLURM_CONF=conf))
        reason = _slurm_unusable(conf)
        if reason:
            message = (f'no Slurm with accounting here ({reason}) and {start} could not start '
                       f'one (exit {proc.returncode}): {proc.stderr[-1500:]}')
            if os.environ.get('CI') == 'true':
                pytest.fail(message)
            pytest.skip(message)
    return conf


@pytest.fixture
def slurm(slurm_conf, monkeypatch) -> str:
    """:func:`slurm_conf`, also exported as ``SLURM_CONF`` for the duration of the test."""
    monkeypatch.setenv('SLURM_CONF', slurm_conf)
    return slurm_conf
