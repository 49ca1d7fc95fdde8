# Copyright (c) mmgcp contributors. All rights reserved.
"""``mmgcp.ops`` and tools/analysis/benchmark_ops.py run with PyTorch alone.

A subprocess installs an import blocker for every OpenMMLab package before importing mmgcp, as
on a machine where only torch is installed.
"""
import os
import os.path as osp
import subprocess
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

BLOCKER = '''
import sys
BLOCKED = ('mmengine', 'mmcv', 'mmdet', 'mmseg', 'mmpretrain')

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED:
            raise ImportError(f'{name} is blocked: this test runs with torch alone')
        return None

sys.meta_path.insert(0, Blocker())
'''


def _run(code: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, '-c', BLOCKER + code, *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def test_ops_and_their_benchmark_run_without_openmmlab():
    script = osp.join(REPO_ROOT, 'tools', 'analysis', 'benchmark_ops.py')
    proc = _run(f'''
import runpy
import torch
import mmgcp
import mmgcp.ops as ops
x = torch.randn(2, 6, 3, 3, requires_grad=True)
vec = ops.triu_vectorize(ops.covariance_isqrt(x))
(vec.sum() + ops.matrix_power(ops.covariance(x)).sum()).backward()
assert vec.shape == (2, 21) and torch.isfinite(x.grad).all()
try:
    mmgcp.MODELS  # the registry needs mmengine: it loads lazily and fails here
except ImportError as error:
    print('registry:', error)
sys.argv = [{script!r}, '--device', 'cpu', '--batch-size', '2', '--channels', '8',
            '--size', '3', '--repeats', '1', '--warmup', '0']
runpy.run_path({script!r}, run_name='__main__')
assert not any(m.split('.')[0] in BLOCKED for m in sys.modules), sorted(sys.modules)
print('ok', mmgcp.__version__)
''')
    assert 'registry: mmengine' in proc.stdout and 'ok 0.' in proc.stdout
    assert 'RATIOS (this run)' in proc.stdout and 'mmgcp unfused' in proc.stdout


def test_importing_mmgcp_after_mmengine_patches_the_checkpoint_loader():
    """``custom_imports=dict(imports=['mmgcp'])`` imports mmgcp after mmengine."""
    code = '''
import mmengine.runner.checkpoint as checkpoint
import mmgcp
from mmgcp.utils.checkpoint_compat import load_local_checkpoint
loader = checkpoint.CheckpointLoader._schemes['']
print('patched' if loader is load_local_checkpoint else f'not patched: {loader}')
'''
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    proc = subprocess.run([sys.executable, '-c', code], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith('patched') and 'not' not in proc.stdout
