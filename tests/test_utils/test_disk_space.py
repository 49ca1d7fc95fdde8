# Copyright (c) mmgcp contributors. All rights reserved.
"""mmgcp.utils.disk_space and the atomic checkpoint writes on a real, small filesystem (a tmpfs
mounted by the test): a full disk gives a message that names the file, the space needed and free,
the intact previous checkpoint and --resume; a disk too small for one checkpoint stops
tools/train.py before training."""
import os
import os.path as osp
import pickle
import re
import subprocess

import pytest
import torch
import torch.nn as nn

from mmgcp.datasets.toy import make_toy_classification
from mmgcp.utils import (
    AtomicLocalBackend,
    NoSpaceForCheckpointError,
    estimate_checkpoint_bytes,
    load_checkpoint_file,
)

CLS_CFG = 'configs/toy/resnet18-w16-gcp_1xb32_toy.py'


@pytest.fixture
def small_fs(tmp_path):
    """``mount(size_bytes)`` mounts a tmpfs of that size at a fresh folder; ``resize`` grows it.
    Unmounted at the end."""
    mounts = []

    def mount(size_bytes: int) -> str:
        point = tmp_path / f'fs{len(mounts)}'
        point.mkdir()
        proc = subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size_bytes}', 'tmpfs',
                               str(point)], capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f'mounting a tmpfs is not permitted here: {proc.stderr.strip()}')
        mounts.append(str(point))
        return str(point)

    def resize(point: str, size_bytes: int) -> None:
        subprocess.run(['mount', '-o', f'remount,size={size_bytes}', point], check=True)

    mount.resize = resize
    yield mount
    for point in mounts:
        subprocess.run(['umount', point], check=False)


def test_estimate_counts_weights_and_optimizer_state():
    model = nn.Sequential(nn.Linear(10, 10), nn.BatchNorm1d(10))  # 110 + 20 params, 21 buffers
    model[1].weight.requires_grad_(False)
    weights = (110 + 20 + 20) * 4 + 8  # float32 tensors, int64 num_batches_tracked
    trainable = (110 + 10) * 4
    sgd = estimate_checkpoint_bytes(model, dict(type='SGD', lr=0.1, momentum=0.9))
    assert sgd == dict(weights=weights, optimizer=trainable, total=weights + trainable)
    assert estimate_checkpoint_bytes(model, dict(type='SGD', lr=0.1))['optimizer'] == 0
    assert estimate_checkpoint_bytes(model, dict(type='AdamW'))['optimizer'] == 2 * trainable
    assert estimate_checkpoint_bytes(model, None)['total'] == weights  # unknown: a lower bound


def test_full_disk_keeps_the_previous_checkpoint_and_says_so(small_fs):
    folder = osp.join(small_fs(256 * 1024), 'work')
    os.makedirs(folder)
    backend = AtomicLocalBackend()
    previous = osp.join(folder, 'epoch_1.pth')
    torch.save({'state_dict': {'w': torch.zeros(1000)}}, previous)
    before = open(previous, 'rb').read()
    target = osp.join(folder, 'epoch_2.pth')
    with pytest.raises(NoSpaceForCheckpointError) as info:
        backend.put(b'x' * 1_000_000, target)
    message = str(info.value)
    assert f'could not write the checkpoint {target}' in message
    assert 'needs 1.0 MB' in message and re.search(r'has \d+\.\d kB free', message)
    assert f'The previous checkpoint, {previous}, is intact' in message and '--resume' in message
    assert info.value.errno == 28
    assert sorted(os.listdir(folder)) == ['epoch_1.pth']  # no partial file, no temporary file
    assert open(previous, 'rb').read() == before
    copy = pickle.loads(pickle.dumps(info.value))  # e.g. from a benchmark worker process
    assert str(copy) == message


def _cls_options(root, epochs):
    data = [f'{split}_dataloader.dataset.data_root={root}' for split in ('train', 'val', 'test')]
    workers = [f'{split}_dataloader.num_workers=0' for split in ('train', 'val', 'test')]
    return data + workers + ['train_dataloader.batch_size=16', f'train_cfg.max_epochs={epochs}',
                             'train_cfg.val_interval=1']


@pytest.fixture(scope='module')
def toy_cls_run(tmp_path_factory, tool_runner):
    """Tiny toy data and the size of one checkpoint of the toy GCP classifier."""
    root = tmp_path_factory.mktemp('full_disk')
    data = make_toy_classification(str(root / 'cls'), num_classes=4, num_train_per_class=8,
                                   num_val_per_class=2, img_size=48, seed=0)['root']
    work = str(root / 'work')
    tool_runner(['tools/train.py', CLS_CFG, '--work-dir', work, '--cfg-options',
                 *_cls_options(data, 1)], env={'OMP_NUM_THREADS': '1'})
    return data, osp.getsize(osp.join(work, 'epoch_1.pth'))


@pytest.mark.slow
def test_train_on_a_disk_full_after_one_checkpoint_explains_and_resumes(small_fs, toy_cls_run,
                                                                          tool_runner):
    data, checkpoint_size = toy_cls_run
    mount_point = small_fs(checkpoint_size * 3 // 2)  # room for epoch_1, not for epoch_2 too
    work = osp.join(mount_point, 'work')
    train = ['tools/train.py', CLS_CFG, '--work-dir', work, '--cfg-options',
             *_cls_options(data, 2)]
    proc = tool_runner(train, env={'OMP_NUM_THREADS': '1'}, check=False)
    message = proc.stderr
    assert proc.returncode == 1
    assert 'Traceback' not in message and 'Errno 28' not in message, message[-3000:]
    assert f'could not write the checkpoint {work}/epoch_2.pth' in message, message[-3000:]
    needed, free = re.search(r'needs (\d+\.\d) MB, the filesystem has (\d+\.\d) MB free',
                             message).groups()
    assert float(needed) == pytest.approx(checkpoint_size / 1e6, abs=0.1)
    assert float(free) < float(needed)
    assert f'The previous checkpoint, {work}/epoch_1.pth, is intact' in message
    assert 'same tools/train.py command with --resume' in message
    assert not [n for n in os.listdir(work) if n.startswith('epoch_2') or n.endswith('.tmp')]
    load_checkpoint_file(osp.join(work, 'epoch_1.pth'))  # intact and loadable

    small_fs.resize(mount_point, checkpoint_size * 3)  # space freed: resume as the message says
    proc = tool_runner(train[:4] + ['--resume'] + train[4:], env={'OMP_NUM_THREADS': '1'})
    assert re.search(r'resumed epoch: 1', proc.stdout + proc.stderr)
    assert load_checkpoint_file(osp.join(work, 'epoch_2.pth'))['meta']['epoch'] == 2


@pytest.mark.slow
def test_train_on_a_disk_too_small_for_one_checkpoint_stops_before_training(
        small_fs, toy_cls_run, tool_runner):
    data, checkpoint_size = toy_cls_run
    work = osp.join(small_fs(checkpoint_size // 2), 'work')
    proc = tool_runner(['tools/train.py', CLS_CFG, '--work-dir', work, '--cfg-options',
                        *_cls_options(data, 2)], env={'OMP_NUM_THREADS': '1'}, check=False)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 1 and 'Traceback' not in log, log[-3000:]
    assert f'not enough space for a checkpoint in {work}' in proc.stderr
    estimate = float(re.search(r'needs at least (\d+\.\d) MB', proc.stderr).group(1))
    assert estimate <= checkpoint_size / 1e6 + 0.05  # a lower bound of the real size
    assert estimate > checkpoint_size / 2e6  # ... clearly more than the space there
    assert 'so it was not started' in proc.stderr
    assert 'Epoch(train)' not in log and not [n for n in os.listdir(work) if n.endswith('.pth')]
