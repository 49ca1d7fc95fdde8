# Copyright (c) mmgcp contributors. All rights reserved.
"""A GCP config trains through mmengine's own Runner (as mmpretrain's tools/train.py does, not
mmgcp's tool) with no device-to-host sync from the GCP ops, because the config registers
mmgcp.NonFiniteCheckHook itself; add_nonfinite_check_hook leaves such a config as it is."""
import copy
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

import mmgcp.models
import mmgcp.ops
from mmgcp.datasets.toy import make_toy_classification
from mmgcp.engine import NonFiniteCheckHook, add_nonfinite_check_hook

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
GCP_CONFIG = osp.join(REPO_ROOT, 'configs', 'toy', 'resnet18-w16-gcp_1xb32_toy.py')
#: Where the GCP ops and modules live: a sync with one of these files on the stack is theirs.
GCP_CODE = (osp.dirname(mmgcp.ops.__file__) + osp.sep, osp.dirname(mmgcp.models.__file__) + osp.sep)
#: torch.Tensor methods that copy a device value to the host.
SYNCING_METHODS = ('item', '__bool__', '__float__', '__int__', '__index__', 'tolist', 'nonzero',
                   'cpu', 'numpy', '__array__')


def _nonfinite_hooks(cfg) -> list:
    return [h for h in cfg.get('custom_hooks') or []
            if h.get('type') in ('mmgcp.NonFiniteCheckHook', 'NonFiniteCheckHook')]


def test_add_nonfinite_check_hook_leaves_a_config_that_has_it_unchanged():
    cfg = Config.fromfile(GCP_CONFIG)
    assert len(_nonfinite_hooks(cfg)) == 1  # the config registers it itself
    before = copy.deepcopy(cfg.to_dict())
    assert add_nonfinite_check_hook(cfg, interval=7) is cfg
    assert cfg.to_dict() == before  # no second hook, and the interval of the config's own

    for own in (dict(type='NonFiniteCheckHook', interval=5), NonFiniteCheckHook(interval=5),
                dict(type=NonFiniteCheckHook, interval=5)):
        cfg = Config(dict(custom_hooks=[dict(type='EMAHook'), own]))
        add_nonfinite_check_hook(cfg)
        assert len(cfg.custom_hooks) == 2 and cfg.custom_hooks[1] == own

    cfg = Config(dict(custom_hooks=[dict(type='EMAHook')]))  # a config without it gets one
    add_nonfinite_check_hook(cfg, interval=3)
    assert cfg.custom_hooks == [
        dict(type='EMAHook'), dict(type='mmgcp.NonFiniteCheckHook', interval=3)]


class GCPSyncCounter(Hook):
    """Count the host syncs whose call stack passes through mmgcp's ops or models, from the
    start to the end of each training iteration (forward, backward and optimizer step)."""

    priority = 'HIGHEST'  # its after_train_iter runs before NonFiniteCheckHook reads records

    def __init__(self, monkeypatch):
        self.active = False
        self.syncs = []
        self.iterations = 0
        for name in SYNCING_METHODS:
            method = getattr(torch.Tensor, name)
            monkeypatch.setattr(torch.Tensor, name, self._counted(name, method))
        monkeypatch.setattr(torch, 'nonzero', self._counted('torch.nonzero', torch.nonzero))

    def _counted(self, name, method):
        def counted(*args, **kwargs):
            if self.active:
                frame = sys._getframe(1)
                while frame is not None:
                    if frame.f_code.co_filename.startswith(GCP_CODE):
                        self.syncs.append(f'{name} in {frame.f_code.co_filename}:'
                                          f'{frame.f_lineno}')
                        break
                    frame = frame.f_back
            return method(*args, **kwargs)
        return counted

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.active = True

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.active = False
        self.iterations += 1


@pytest.fixture(scope='module')
def toy_cls(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('toy') / 'cls')
    # 16 training images at batch 8: two iterations
    make_toy_classification(root, num_classes=4, num_train_per_class=4, num_val_per_class=1,
                            img_size=32, seed=0)
    return root


def _train(cfg: Config, monkeypatch) -> GCPSyncCounter:
    """Train one epoch with mmengine's Runner, counting the GCP ops' host syncs."""
    runner = Runner.from_cfg(cfg)
    counter = GCPSyncCounter(monkeypatch)
    runner.register_hook(counter)
    runner.train()
    monkeypatch.undo()
    return counter


def _toy_cfg(data_root: str, work_dir: str, name: str) -> Config:
    cfg = Config.fromfile(GCP_CONFIG)
    cfg.work_dir = work_dir
    cfg.experiment_name = name
    cfg.train_dataloader.update(batch_size=8, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.data_root = data_root
    cfg.train_cfg = dict(by_epoch=True, max_epochs=1)
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator', 'test_dataloader', 'test_cfg',
                'test_evaluator'):
        cfg[key] = None
    cfg.default_hooks.checkpoint = None
    cfg.log_level = 'WARNING'
    return cfg


@pytest.fixture
def one_thread():
    """A tiny model on a shared 2-core machine: a second thread only competes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_runner_trains_the_toy_gcp_config_with_no_sync_from_the_gcp_ops(
        toy_cls, tmp_path, monkeypatch, one_thread):
    cfg = _toy_cfg(toy_cls, str(tmp_path / 'with_hook'), 'nonfinite-with-hook')
    counter = _train(cfg, monkeypatch)
    assert counter.iterations == 2
    assert counter.syncs == [], counter.syncs

    # The control: the same run without the config's hook checks eagerly, a sync per operator
    # call, which the counter sees; so the zero above is the hook's doing.
    cfg = _toy_cfg(toy_cls, str(tmp_path / 'without_hook'), 'nonfinite-without-hook')
    cfg.custom_hooks = [h for h in cfg.custom_hooks if h not in _nonfinite_hooks(cfg)]
    counter = _train(cfg, monkeypatch)
    assert counter.iterations == 2
    assert len(counter.syncs) >= 2 and all('mmgcp' in s for s in counter.syncs), counter.syncs
