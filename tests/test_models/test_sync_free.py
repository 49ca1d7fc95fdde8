# Copyright (c) mmgcp contributors. All rights reserved.
"""The training forward + backward of every GCP module reads nothing back from the device.

Under ``mmgcp.NonFiniteCheckHook`` (which defers the NaN/Inf guard to the device), every call
that copies a device value to the host (``.item()``, ``bool()``, ``float()``, ``int()``,
``.tolist()``, ``.nonzero()``, ``.cpu()``, ``.numpy()``) is counted during one training step of
each module. On a GPU each of them would wait for every queued kernel; on CPU they are counted
all the same. tests/test_ops/test_cuda.py checks the same on CUDA with torch's sync debug mode.
"""
import traceback
from types import SimpleNamespace

import pytest
import torch
from mmengine.registry import DefaultScope

from mmgcp.engine import NonFiniteCheckHook
from mmgcp.models import (
    CovAttentionNeck,
    DropCovNeck,
    ElementDropCovClsHead,
    GCPNeck,
    MultiHeadCovClsHead,
)
from mmgcp.models.necks.gcp_neck import POST_NORMS
from mmgcp.ops import NonFiniteError

SYNCING_METHODS = ('item', '__bool__', '__float__', '__int__', '__index__', 'tolist',
                   'nonzero', 'cpu', 'numpy', '__array__')


class SyncCounter:
    """Patch torch.Tensor's host-reading methods (and torch.nonzero) with counters."""

    def __init__(self, monkeypatch):
        self.calls = []
        for name in SYNCING_METHODS:
            original = getattr(torch.Tensor, name)
            monkeypatch.setattr(torch.Tensor, name, self._wrap(name, original))
        monkeypatch.setattr(torch, 'nonzero', self._wrap('torch.nonzero', torch.nonzero))

    def _wrap(self, name, original):
        def counted(*args, **kwargs):
            if self.active:
                self.calls.append(f'{name}\n' + ''.join(traceback.format_stack(limit=6)[:-1]))
            return original(*args, **kwargs)
        return counted

    active = False


def _cov_uper_head():
    from mmgcp.models import CovUPerHead
    with DefaultScope.overwrite_default_scope('mmseg'):
        return CovUPerHead(in_channels=[8, 16], in_index=[0, 1], channels=8, num_classes=3,
                           norm_cfg=dict(type='BN', requires_grad=True), reduced_channels=6)


def _modules():
    """(name, module, inputs) for every GCP module, small."""
    torch.manual_seed(0)
    feats = torch.randn(4, 16, 5, 5)
    cases = [(f'GCPNeck-{p}', GCPNeck(16, reduced_channels=8, post_norm=p), (feats, ))
             for p in POST_NORMS]
    cases.append(('GCPNeck-skip', GCPNeck(16, reduced_channels=8, nonfinite='skip'), (feats, )))
    cases.append(('DropCovNeck', DropCovNeck(16, reduced_channels=8), (feats, )))
    levels = (torch.randn(2, 8, 8, 8), torch.randn(2, 16, 4, 4))
    for post_norm in ('isqrt', 'power', 'none'):
        cases.append((f'CovAttentionNeck-{post_norm}',
                      CovAttentionNeck([8, 16], reduced_channels=6, post_norm=post_norm),
                      (levels, )))
    cases.append(('CovUPerHead', _cov_uper_head(), (list(levels), )))
    cases.append(('ElementDropCovClsHead',
                  ElementDropCovClsHead(num_classes=5, in_channels=12, num_heads=2,
                                        head_channels=3),
                  ((torch.randn(2, 10, 12), ), )))
    # The published DropCov ViT head: class token first, then the patch tokens.
    cases.append(('MultiHeadCovClsHead',
                  MultiHeadCovClsHead(num_classes=5, in_channels=12, num_heads=2,
                                      head_channels=3),
                  ((torch.randn(2, 10, 12), ), )))
    return cases


def _loss(outputs):
    if isinstance(outputs, (tuple, list)):
        return sum(out.float().square().mean() for out in outputs)
    return outputs.float().square().mean()


def test_training_step_of_every_gcp_module_reads_nothing_from_the_device(monkeypatch):
    cases = _modules()
    counter = SyncCounter(monkeypatch)
    for name, module, inputs in cases:
        module.train()
        hook = NonFiniteCheckHook()
        hook.before_run(SimpleNamespace(model=module))
        assert module.nonfinite_record.deferred, name
        counter.active = True  # no warm-up: the first call (filling caches) counts too
        try:
            _loss(module(*inputs)).backward()
        finally:
            counter.active = False
        assert not counter.calls, f'{name}: {len(counter.calls)} host read(s), first:\n' + \
            counter.calls[0]
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())
        hook.after_train_iter(SimpleNamespace(model=module, iter=0), 0)  # all finite: quiet


def test_masked_covariance_of_a_padded_batch_reads_nothing_from_the_device(monkeypatch):
    from mmgcp.models.utils import BatchPadding, current_valid_mask, padding_scope
    torch.manual_seed(0)
    levels = (torch.randn(2, 8, 8, 8), torch.randn(2, 16, 4, 4))
    # the first image covers 4 x 3 of the 4 x 4 positions at stride 32
    padding = BatchPadding(((100, 70), (128, 128)), (128, 128))
    with padding_scope(padding):
        assert current_valid_mask(levels[1]) is not None
    modules = [CovAttentionNeck([8, 16], reduced_channels=6, post_norm=post_norm)
               for post_norm in ('isqrt', 'power', 'none')] + [_cov_uper_head()]
    hook = NonFiniteCheckHook()
    counter = SyncCounter(monkeypatch)
    for module in modules:
        module.train()
        hook.before_run(SimpleNamespace(model=module))
        inputs = list(levels) if type(module).__name__ == 'CovUPerHead' else levels
        counter.active = True
        try:
            with padding_scope(padding):
                _loss(module(inputs)).backward()
        finally:
            counter.active = False
        assert not counter.calls, f'{type(module).__name__}: {len(counter.calls)} host ' \
            'read(s), first:\n' + counter.calls[0]
        hook.after_train_iter(SimpleNamespace(model=module, iter=0), 0)


def test_deferred_guard_raises_from_the_hook_with_module_and_indices(monkeypatch):
    neck = GCPNeck(16, reduced_channels=8).train()
    hook = NonFiniteCheckHook()
    hook.before_run(SimpleNamespace(model=neck))
    feats = torch.randn(6, 16, 5, 5)
    feats[[1, 4], 3, 2, 2] = torch.tensor([float('nan'), float('inf')])
    counter = SyncCounter(monkeypatch)
    counter.active = True
    (out, ) = neck(feats)  # no error, no host read: the flags stay on the device
    counter.active = False
    assert not counter.calls
    with pytest.raises(NonFiniteError, match=r'GCPNeck.*GCPNeck: 2 bad sample.*\[1, 4\]'):
        hook.after_train_iter(SimpleNamespace(model=neck, iter=0), 0)
    # The record was reset: the next clean iteration passes.
    neck(torch.randn(6, 16, 5, 5))
    hook.after_train_iter(SimpleNamespace(model=neck, iter=1), 1)
    hook.after_run(SimpleNamespace(model=neck))
    assert not neck.nonfinite_record.deferred
    with pytest.raises(NonFiniteError, match=r'\[1, 4\]'):  # eager again without the hook
        neck(feats)


def test_deferred_skip_zeroes_samples_and_the_hook_counts_them():
    neck = GCPNeck(16, reduced_channels=8, nonfinite='skip').train()
    hook = NonFiniteCheckHook()
    hook.before_run(SimpleNamespace(model=neck))
    feats = torch.randn(4, 16, 5, 5)
    feats[2, 0, 0, 0] = float('nan')
    (out, ) = neck(feats)
    assert torch.isfinite(out).all() and not out[2].any() and out[0].abs().sum() > 0
    assert neck.num_skipped == 0  # not read back yet
    hook.after_train_iter(SimpleNamespace(model=neck, iter=0), 0)
    assert neck.num_skipped == 1
    with pytest.raises(ValueError, match='interval'):
        NonFiniteCheckHook(interval=0)


def test_train_configs_get_the_hook_once():
    from mmengine.config import Config

    from mmgcp.engine import add_nonfinite_check_hook
    cfg = Config(dict(custom_hooks=[dict(type='EMAHook')]))
    add_nonfinite_check_hook(cfg)
    add_nonfinite_check_hook(cfg)
    assert [h['type'] for h in cfg.custom_hooks] == ['EMAHook', 'mmgcp.NonFiniteCheckHook']
