# Copyright (c) mmgcp contributors. All rights reserved.
"""Checkpoint safety through the real tools on the toy configs: every checkpoint the toy
pipeline writes loads without any opt-in (also after a kill and --resume); a checkpoint that
would run code is refused by every tool before it is unpickled, and the file it would create
never appears; --trust-checkpoint / MMGCP_TRUST_CHECKPOINT=1 trust one invocation only."""
import fractions
import os
import os.path as osp
import re
import shutil
import subprocess
import sys

import pytest
import torch

from mmgcp.datasets.toy import make_toy_ade20k, make_toy_classification, make_toy_coco
from mmgcp.utils import TRUST_ENV, load_checkpoint_file
from mmgcp.utils.safe_checkpoint import find_untrusted_globals

pytestmark = pytest.mark.slow

CLS_CFG = 'configs/toy/resnet18-w16-gcp_1xb32_toy.py'
DET_CFG = 'configs/toy/det/mask-rcnn_r18-w16-gcp_fpn_1xb4_toy.py'
SEG_CFG = 'configs/toy/seg/upernet_r18-w16-gcp_1xb4_toy-128x128.py'
SYSTEM = f'{os.system.__module__}.system'  # what the crafted checkpoints' pickle calls
# One thread per process: on 2 shared cores a second OpenMP thread only spins.
ENV = {'OMP_NUM_THREADS': '1'}


@pytest.fixture(autouse=True)
def untrusted_environment(monkeypatch):
    """The tools run without a trust the caller's shell may have set."""
    monkeypatch.delenv(TRUST_ENV, raising=False)


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    """Tiny toy sets for the three tasks."""
    root = tmp_path_factory.mktemp('safe_loading_data')
    cls = make_toy_classification(str(root / 'cls'), num_classes=4, num_train_per_class=8,
                                  num_val_per_class=2, img_size=48, seed=0)
    coco = make_toy_coco(str(root / 'coco'), num_train=8, num_val=4, img_size=128, seed=0)
    ade20k = make_toy_ade20k(str(root / 'ade20k'), num_train=8, num_val=4, img_size=128, seed=0)
    return dict(cls=cls['root'], coco=coco, ade20k=ade20k['root'])


def _cls_options(root, epochs=1):
    data = [f'{split}_dataloader.dataset.data_root={root}' for split in ('train', 'val', 'test')]
    workers = [f'{split}_dataloader.num_workers=0' for split in ('train', 'val', 'test')]
    return data + workers + ['train_dataloader.batch_size=16', f'train_cfg.max_epochs={epochs}',
                             'train_cfg.val_interval=1']


def _det_options(coco, checkpoint):
    root, ann = coco['root'] + '/', coco['val_ann_file']
    return [f'model.backbone.init_cfg.checkpoint={checkpoint}',
            *[f'{split}_dataloader.dataset.data_root={root}' for split in ('train', 'val', 'test')],
            f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}',
            'train_cfg.max_epochs=1', 'train_cfg.val_interval=1']


def _seg_options(root, checkpoint, iters=2):
    return [f'model.backbone.init_cfg.checkpoint={checkpoint}',
            *[f'{split}_dataloader.dataset.data_root={root}' for split in ('train', 'val', 'test')],
            f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
            f'param_scheduler.0.end={iters}', f'default_hooks.checkpoint.interval={iters}']


@pytest.fixture(scope='module')
def cls_checkpoint(toy, tmp_path_factory, tool_runner):
    """A checkpoint of the toy GCP classifier written by tools/train.py (1 epoch)."""
    work = str(tmp_path_factory.mktemp('safe_loading_cls') / 'work')
    tool_runner(['tools/train.py', CLS_CFG, '--work-dir', work, '--cfg-options',
                 *_cls_options(toy['cls'])], env={**ENV, TRUST_ENV: '0'})
    return osp.join(work, 'epoch_1.pth')


def _assert_loads_without_trust(path):
    assert find_untrusted_globals(path) == [], path
    checkpoint = load_checkpoint_file(path, map_location='cpu', trust=False)
    assert checkpoint['state_dict'] and 'log_scalars' in checkpoint['message_hub']
    return checkpoint


def _assert_refused(proc, path, marker, type_name=SYSTEM):
    message = proc.stdout + proc.stderr
    assert proc.returncode != 0, message[-3000:]
    assert f'refused to load the checkpoint {path}' in message, message[-3000:]
    assert type_name in message and '--trust-checkpoint' in message
    assert 'Traceback' not in message, message[-3000:]  # a message, not a crash
    assert not marker.exists()


def test_every_toy_checkpoint_loads_without_trust(toy, cls_checkpoint, tool_runner, tmp_path):
    """Classification, detection and segmentation runs; the latter two load the classifier
    through init_cfg, which is itself a load without opt-in."""
    _assert_loads_without_trust(cls_checkpoint)
    det_work, seg_work = str(tmp_path / 'det'), str(tmp_path / 'seg')
    proc = tool_runner(['tools/train.py', DET_CFG, '--work-dir', det_work, '--cfg-options',
                        *_det_options(toy['coco'], cls_checkpoint)], env=ENV)
    assert f'load backbone.* of {cls_checkpoint} into ResNet' in proc.stdout + proc.stderr
    _assert_loads_without_trust(osp.join(det_work, 'epoch_1.pth'))
    tool_runner(['tools/train.py', SEG_CFG, '--work-dir', seg_work, '--cfg-options',
                 *_seg_options(toy['ade20k'], cls_checkpoint)], env=ENV)
    _assert_loads_without_trust(osp.join(seg_work, 'iter_2.pth'))


def test_resume_after_a_kill_loads_without_trust(toy, cls_checkpoint, repo_root, tmp_path,
                                                 tool_runner):
    # Killed right after epoch_2.pth was written, before mmengine's marker named it.
    work = str(tmp_path / 'work')
    os.makedirs(work)
    shutil.copy(cls_checkpoint, osp.join(work, 'epoch_1.pth'))
    with open(osp.join(work, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(work, 'epoch_1.pth'))
    env = dict(os.environ, **ENV, MMGCP_KILL_AT='checkpoint_written:epoch_2.pth',
               PYTHONPATH=repo_root + os.pathsep + os.environ.get('PYTHONPATH', ''))
    killed = subprocess.run(
        [sys.executable, 'tools/train.py', CLS_CFG, '--work-dir', work, '--resume',
         '--cfg-options', *_cls_options(toy['cls'], epochs=3)],
        cwd=repo_root, env=env, capture_output=True, text=True, timeout=600,
        start_new_session=True)
    assert killed.returncode == -9, killed.stderr[-3000:]
    _assert_loads_without_trust(osp.join(work, 'epoch_2.pth'))
    proc = tool_runner(['tools/train.py', CLS_CFG, '--work-dir', work, '--resume',
                        '--cfg-options', *_cls_options(toy['cls'], epochs=3)], env=ENV)
    assert re.search(r'resumed epoch: 2', proc.stdout + proc.stderr), proc.stderr[-3000:]
    assert _assert_loads_without_trust(osp.join(work, 'epoch_3.pth'))['meta']['epoch'] == 3


@pytest.fixture
def crafted(cls_checkpoint, crafted_checkpoint):
    """The toy classifier's checkpoint with an object that runs ``touch`` when loaded."""
    return crafted_checkpoint(checkpoint=load_checkpoint_file(cls_checkpoint, trust=False))


ENTRY_POINTS = {
    'test': lambda cfg, path, toy, work: [
        'tools/test.py', cfg['cls'], path, '--work-dir', work, '--cfg-options',
        *_cls_options(toy['cls'])],
    'train-load_from': lambda cfg, path, toy, work: [
        'tools/train.py', cfg['cls'], '--work-dir', work, '--cfg-options', f'load_from={path}',
        *_cls_options(toy['cls'])],
    'train-init_cfg': lambda cfg, path, toy, work: [
        'tools/train.py', cfg['det'], '--work-dir', work, '--cfg-options',
        *_det_options(toy['coco'], path)],
    'flatness': lambda cfg, path, toy, work: [
        'tools/analysis/flatness.py', cfg['cls'], path, '--out-dir', work, '--num-batches', '1',
        '--num-points', '2', '--hessian-iters', '0', '--cfg-options',
        *_cls_options(toy['cls'])],
    'robustness': lambda cfg, path, toy, work: [
        'tools/analysis/robustness.py', cfg['cls'], path, '--work-dir', work, '--corruptions',
        'gaussian_noise', '--severities', '1', '--cfg-options', *_cls_options(toy['cls'])],
}


@pytest.mark.parametrize('entry_point', list(ENTRY_POINTS))
def test_crafted_checkpoint_is_refused(entry_point, toy, crafted, tool_runner, tmp_path):
    path, marker = crafted
    work = str(tmp_path / 'work')
    args = ENTRY_POINTS[entry_point](dict(cls=CLS_CFG, det=DET_CFG), path, toy, work)
    proc = tool_runner(args, env=ENV, check=False)
    _assert_refused(proc, path, marker)
    assert not [name for name in (os.listdir(work) if osp.isdir(work) else [])
                if name.endswith('.pth')]  # nothing trained or evaluated


def test_resume_refuses_a_crafted_newest_checkpoint(toy, cls_checkpoint, crafted, tool_runner,
                                                    tmp_path):
    path, marker = crafted
    work = str(tmp_path / 'work')
    os.makedirs(work)
    shutil.copy(cls_checkpoint, osp.join(work, 'epoch_1.pth'))
    newest = osp.join(work, 'epoch_2.pth')
    shutil.copy(path, newest)
    proc = tool_runner(['tools/train.py', CLS_CFG, '--work-dir', work, '--resume',
                        '--cfg-options', *_cls_options(toy['cls'], epochs=3)], env=ENV,
                       check=False)
    _assert_refused(proc, newest, marker)
    assert sorted(n for n in os.listdir(work) if n.endswith('.pth')) == ['epoch_1.pth',
                                                                         'epoch_2.pth']


def test_trust_is_scoped_to_one_invocation(toy, cls_checkpoint, tool_runner, tmp_path):
    # Harmless, but outside the allowlist: only a user's trust lets it load.
    checkpoint = load_checkpoint_file(cls_checkpoint, map_location='cpu', trust=False)
    checkpoint['meta']['ratio'] = fractions.Fraction(1, 3)
    path = str(tmp_path / 'needs_trust.pth')
    torch.save(checkpoint, path)
    work = str(tmp_path / 'work')
    test = ['tools/test.py', CLS_CFG, path, '--work-dir', work, '--cfg-options',
            *_cls_options(toy['cls'])]
    no_marker = tmp_path / 'never_created'
    _assert_refused(tool_runner(test, env=ENV, check=False), path, no_marker,
                    'fractions.Fraction')
    proc = tool_runner(test + ['--trust-checkpoint'], env=ENV)
    assert 'accuracy/top1' in proc.stdout + proc.stderr
    proc = tool_runner(test, env={**ENV, TRUST_ENV: '1'})  # for commands that are not mmgcp's
    assert 'accuracy/top1' in proc.stdout + proc.stderr
    # The next invocation without either is refused again: nothing persisted.
    _assert_refused(tool_runner(test, env=ENV, check=False), path, no_marker,
                    'fractions.Fraction')
