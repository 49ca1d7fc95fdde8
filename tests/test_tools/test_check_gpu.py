# Copyright (c) mmgcp contributors. All rights reserved.
"""tools/check_gpu.sh without a GPU: it says which parts it skipped and why, and exits 0."""
import os
import os.path as osp
import subprocess
import sys

SCRIPT = osp.join(osp.dirname(__file__), '..', '..', 'tools', 'check_gpu.sh')


def test_without_a_gpu_every_gpu_part_is_skipped_with_a_reason(tmp_path):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='', PYTHON=sys.executable,
               MMGCP_CHECK_WORKDIR=str(tmp_path / 'work'))
    proc = subprocess.run(['bash', SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = proc.stdout.split('== mmgcp GPU check summary')[-1]
    assert 'torch ' in summary and 'nvcc' in summary
    for part in ('mmcv-cuda', 'tests', 'bench', 'train'):
        line = next(line for line in summary.splitlines() if line.startswith(part))
        assert 'SKIPPED' in line and 'no GPU visible' in line, line
    assert 'FAIL' not in summary
    assert not os.listdir(tmp_path / 'work')  # nothing was run, nothing written
