# Copyright (c) mmgcp contributors. All rights reserved.
"""mmgcp.utils.resume and atomic_io: resume from the newest complete checkpoint; atomic writes."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from mmgcp.utils import (
    AtomicLocalBackend,
    find_resumable_checkpoint,
    is_complete_checkpoint,
    resolve_resume,
    use_atomic_checkpoints,
)


def _ckpt(folder, name, value):
    path = osp.join(folder, name)
    torch.save(dict(state_dict={'w': torch.full((64, 64), float(value))}, meta={}), path)
    return path


def _truncate(path):
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])


@pytest.fixture
def run_dir(tmp_path):
    folder = str(tmp_path / 'run')
    os.makedirs(folder)
    for epoch in (1, 2, 10):  # 10 after 2: by the number, not the name
        _ckpt(folder, f'epoch_{epoch}.pth', epoch)
    return folder


def test_newest_without_marker(run_dir):
    assert not osp.exists(osp.join(run_dir, 'last_checkpoint'))
    assert find_resumable_checkpoint(run_dir) == osp.join(run_dir, 'epoch_10.pth')


def test_stale_marker_does_not_hide_a_newer_checkpoint(run_dir):
    # killed after epoch_10.pth was written, before the marker was updated
    with open(osp.join(run_dir, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(run_dir, 'epoch_2.pth'))
    assert find_resumable_checkpoint(run_dir) == osp.join(run_dir, 'epoch_10.pth')


def test_truncated_newest_falls_back_to_the_previous(run_dir):
    _truncate(osp.join(run_dir, 'epoch_10.pth'))
    with open(osp.join(run_dir, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(run_dir, 'epoch_10.pth'))
    assert not is_complete_checkpoint(osp.join(run_dir, 'epoch_10.pth'))
    assert find_resumable_checkpoint(run_dir) == osp.join(run_dir, 'epoch_2.pth')
    assert torch.load(find_resumable_checkpoint(run_dir))['state_dict']['w'][0, 0] == 2


def test_nothing_to_resume(tmp_path):
    assert find_resumable_checkpoint(str(tmp_path / 'never-created')) is None
    (tmp_path / 'epoch_1.pth.abc.tmp').write_bytes(b'partial')
    (tmp_path / 'epoch_2.pth').write_bytes(b'')
    assert find_resumable_checkpoint(str(tmp_path)) is None


def test_resolve_resume_for_train_py(run_dir):
    cfg = Config(dict(work_dir=run_dir))
    assert resolve_resume(cfg, 'auto') == osp.join(run_dir, 'epoch_10.pth')
    assert cfg.resume is True and cfg.load_from == osp.join(run_dir, 'epoch_10.pth')
    fresh = Config(dict(work_dir=run_dir + '-empty', load_from='init.pth'))
    assert resolve_resume(fresh, 'auto') is None and fresh.resume is False
    assert fresh.load_from == 'init.pth'  # as without --resume
    _truncate(osp.join(run_dir, 'epoch_10.pth'))
    with pytest.raises(FileNotFoundError, match='truncated.*Resume from .*epoch_2.pth'):
        resolve_resume(cfg, osp.join(run_dir, 'epoch_10.pth'))


def test_atomic_backend_replaces_in_one_step(tmp_path):
    path = str(tmp_path / 'sub' / 'epoch_1.pth')
    AtomicLocalBackend().put(b'complete', path)
    assert open(path, 'rb').read() == b'complete'
    assert os.listdir(tmp_path / 'sub') == ['epoch_1.pth']


def test_use_atomic_checkpoints_sets_the_hook_backend():
    cfg = Config(dict(default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1))))
    assert use_atomic_checkpoints(cfg)
    assert cfg.default_hooks.checkpoint.backend_args == dict(backend='mmgcp_atomic_local')
    remote = Config(dict(default_hooks=dict(checkpoint=dict(type='CheckpointHook',
                                                            out_dir='s3://bucket/x'))))
    assert not use_atomic_checkpoints(remote)


_WRITE = '''
import sys
import torch, io
from mmgcp.utils import AtomicLocalBackend
buf = io.BytesIO()
torch.save({'state_dict': {'w': torch.zeros(256, 256)}}, buf)
AtomicLocalBackend().put(buf.getvalue(), sys.argv[1])
print('not killed')
'''


@pytest.mark.parametrize('point', ['checkpoint_partial'])  # 'checkpoint_write': e2e test
def test_kill_during_a_write_leaves_the_previous_checkpoint(run_dir, point, repo_root):
    target = osp.join(run_dir, 'epoch_11.pth')
    env = dict(os.environ, MMGCP_KILL_AT=f'{point}:epoch_11.pth',
               PYTHONPATH=repo_root + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run([sys.executable, '-c', _WRITE, target], env=env, capture_output=True,
                          text=True, timeout=120, start_new_session=True)
    assert proc.returncode == -9 and 'not killed' not in proc.stdout, proc.stderr
    assert not osp.exists(target)
    leftovers = [n for n in os.listdir(run_dir) if n.endswith('.tmp')]
    assert len(leftovers) == (1 if point == 'checkpoint_partial' else 0)
    assert find_resumable_checkpoint(run_dir) == osp.join(run_dir, 'epoch_10.pth')
