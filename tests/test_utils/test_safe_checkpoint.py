# Copyright (c) mmgcp contributors. All rights reserved.
"""mmgcp.utils.safe_checkpoint: checkpoints load weights-only with an allowlist; a file that
would run code is refused before it is unpickled unless the user trusts it."""
import argparse
import fractions
import os
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.model import BaseModule
from mmengine.runner import load_checkpoint, save_checkpoint

import mmgcp  # noqa: F401  registers the safe local loader with mmengine
from mmgcp.utils import (
    TRUST_ENV,
    UntrustedCheckpointError,
    check_checkpoint_trusted,
    load_checkpoint_file,
)
from mmgcp.utils.safe_checkpoint import find_untrusted_globals


class CallsGetattr:
    """Unpickling it calls ``getattr(HistoryBuffer, name)``: only the statistics are allowed."""

    def __init__(self, name: str):
        self.name = name

    def __reduce__(self):
        return (getattr, (HistoryBuffer, self.name))


SYSTEM = f'{os.system.__module__}.system'  # posix.system on Linux: what the pickle names


@pytest.fixture(autouse=True)
def untrusted_environment(monkeypatch):
    """No test inherits a trust the caller's shell may have set."""
    monkeypatch.delenv(TRUST_ENV, raising=False)


def _runner_checkpoint(path, model):
    """What mmengine's Runner writes: weights, meta with numpy values, message-hub records."""
    hub = MessageHub.get_instance('test_safe_checkpoint')
    for step in range(3):
        hub.update_scalar('train/loss', 0.5 / (step + 1))
        hub.update_scalar('train/lr', np.float64(0.1))
        hub.update_scalar('val/accuracy', np.float32(25.0), count=8)
    meta = dict(epoch=3, iter=12, seed=np.int64(7), best_score=np.float64(0.25),
                dataset_meta=dict(classes=('a', 'b')))
    save_checkpoint(dict(state_dict=model.state_dict(), meta=meta,
                         message_hub=hub.state_dict()), str(path))


@pytest.mark.parametrize('legacy', [False, True], ids=['zip', 'legacy-format'])
def test_crafted_checkpoint_is_refused_and_runs_nothing(crafted_checkpoint, legacy):
    path, marker = crafted_checkpoint(legacy=legacy)
    with pytest.raises(UntrustedCheckpointError) as info:
        load_checkpoint_file(path)
    message = str(info.value)
    assert path in message and SYSTEM in message
    assert '--trust-checkpoint' in message and f'{TRUST_ENV}=1' in message
    assert info.value.types == [SYSTEM] and info.value.filename == path
    assert not marker.exists()


def test_refusal_lists_every_type_before_unpickling(crafted_checkpoint):
    path, marker = crafted_checkpoint(checkpoint={'b': fractions.Fraction(1, 3)})
    assert find_untrusted_globals(path) == ['fractions.Fraction', SYSTEM]
    with pytest.raises(UntrustedCheckpointError, match='fractions.Fraction, ' + SYSTEM):
        check_checkpoint_trusted(path)
    assert not marker.exists()


def test_only_the_statistics_methods_of_history_buffer_pass_getattr(tmp_path):
    path = str(tmp_path / 'getattr.pth')
    torch.save({'mean': CallsGetattr('mean'), 'update': CallsGetattr('update')}, path)
    assert find_untrusted_globals(path) == []  # builtins.getattr stands for the restricted one
    with pytest.raises(UntrustedCheckpointError, match=r"getattr\(HistoryBuffer, 'update'\)"):
        load_checkpoint_file(path)
    torch.save({'mean': CallsGetattr('mean')}, path)
    assert load_checkpoint_file(path)['mean'] is HistoryBuffer.mean


def test_pickle_protocol_the_safe_loader_cannot_read_is_refused(tmp_path):
    path = str(tmp_path / 'protocol4.pth')
    torch.save({'w': torch.ones(1)}, path, pickle_protocol=4)
    with pytest.raises(UntrustedCheckpointError, match='protocol 2'):
        load_checkpoint_file(path)


def test_runner_checkpoint_loads_without_trust(tmp_path):
    path = tmp_path / 'epoch_3.pth'
    model = nn.Linear(3, 2)
    _runner_checkpoint(path, model)
    checkpoint = load_checkpoint_file(str(path), map_location='cpu', trust=False)
    assert torch.equal(checkpoint['state_dict']['weight'], model.weight)
    assert checkpoint['meta']['seed'] == 7 and checkpoint['meta']['best_score'] == 0.25
    buffers = checkpoint['message_hub']['log_scalars']
    assert buffers['train/loss'].mean() == pytest.approx((0.5 + 0.25 + 0.5 / 3) / 3)
    assert buffers['val/accuracy'].current() == 25.0
    assert isinstance(buffers['train/lr'].data[0], np.ndarray)


def test_timm_args_namespace_loads_without_trust(tmp_path):
    # The published DropCov ViT files (timm CheckpointSaver) keep the script's argparse args.
    path = str(tmp_path / 'timm.pth.tar')
    args = argparse.Namespace(model='Deit_drop_Small', lr=1e-3, scale=[0.08, 1.0], gp=None)
    torch.save(dict(state_dict={'cls_token': torch.zeros(1, 1, 4)}, args=args, version=2), path)
    assert load_checkpoint_file(path)['args'] == args


def test_allowlist_applies_to_the_load_only(tmp_path):
    """Nothing is switched off globally: torch's own default stays as strict as before."""
    path = tmp_path / 'epoch_1.pth'
    _runner_checkpoint(path, nn.Linear(3, 2))
    before = torch.serialization.get_safe_globals()  # torch registers its own on import
    load_checkpoint_file(str(path))
    assert torch.serialization.get_safe_globals() == before
    assert HistoryBuffer not in before
    with pytest.raises(pickle.UnpicklingError):
        torch.load(str(path))  # weights_only=True by default, without mmgcp's allowlist


def test_trust_loads_with_full_unpickling_for_that_call_only(crafted_checkpoint, monkeypatch):
    path, marker = crafted_checkpoint()
    load_checkpoint_file(path, trust=True)
    assert marker.exists()  # trusted means the file's code runs: that is what trust allows
    marker.unlink()
    monkeypatch.setenv(TRUST_ENV, '1')
    load_checkpoint_file(path)
    assert marker.exists()
    marker.unlink()
    monkeypatch.setenv(TRUST_ENV, '0')  # read at every load, not once
    with pytest.raises(UntrustedCheckpointError):
        load_checkpoint_file(path)
    assert not marker.exists()
    monkeypatch.setenv(TRUST_ENV, 'maybe')
    with pytest.raises(ValueError, match="MMGCP_TRUST_CHECKPOINT='maybe'"):
        load_checkpoint_file(path)


def test_mmengine_load_checkpoint_refuses_after_import_mmgcp(crafted_checkpoint):
    path, marker = crafted_checkpoint()
    with pytest.raises(UntrustedCheckpointError, match=SYSTEM):
        load_checkpoint(nn.Linear(2, 1), path, map_location='cpu')
    assert not marker.exists()


def test_pretrained_init_cfg_refuses_inside_the_model(crafted_checkpoint):
    # The Runner's init_weights path (init_cfg=dict(type='Pretrained')), without tools/train.py's
    # early check.
    path, marker = crafted_checkpoint()
    model = BaseModule(init_cfg=dict(type='Pretrained', checkpoint=path))
    with pytest.raises(UntrustedCheckpointError, match=SYSTEM):
        model.init_weights()
    assert not marker.exists()


def test_error_survives_being_sent_between_processes(tmp_path):
    error = UntrustedCheckpointError('/x/crafted.pth', ['posix.system'])
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error) and copy.types == ['posix.system']
    assert osp.basename(copy.filename) == 'crafted.pth'
