# Copyright (c) mmgcp contributors. All rights reserved.
"""mmengine 0.10.7 loads its own checkpoints under torch >= 2.6 once mmgcp is imported."""
import pickle

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.logging import MessageHub
from mmengine.runner import load_checkpoint, save_checkpoint

import mmgcp  # noqa: F401  applies the fix on import
from mmgcp.utils import patch_local_checkpoint_loader


def _runner_like_checkpoint(path, model):
    # What mmengine's Runner writes: weights plus meta with message-hub state and numpy values.
    hub = MessageHub.get_instance('test_checkpoint_compat')
    hub.update_scalar('train/loss', 0.5)
    meta = dict(epoch=3, iter=12, seed=np.int64(7), message_hub=hub.state_dict(),
                dataset_meta=dict(classes=('a', 'b')))
    save_checkpoint(dict(state_dict=model.state_dict(), meta=meta), str(path))


def test_plain_torch_load_rejects_mmengine_checkpoint(tmp_path):
    """The failure mmgcp works around is real with the pinned torch."""
    path = tmp_path / 'ckpt.pth'
    _runner_like_checkpoint(path, nn.Linear(3, 2))
    with pytest.raises(pickle.UnpicklingError):
        torch.load(str(path))


def test_mmengine_load_checkpoint_works_after_import(tmp_path):
    assert patch_local_checkpoint_loader() is True  # idempotent, already applied by the import
    src, dst = nn.Linear(3, 2), nn.Linear(3, 2)
    path = tmp_path / 'ckpt.pth'
    _runner_like_checkpoint(path, src)
    assert not torch.equal(src.weight, dst.weight)
    ckpt = load_checkpoint(dst, str(path), map_location='cpu')
    assert torch.equal(src.weight, dst.weight) and torch.equal(src.bias, dst.bias)
    assert ckpt['meta']['epoch'] == 3 and ckpt['meta']['seed'] == 7


def test_missing_local_checkpoint_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nowhere.pth'):
        load_checkpoint(nn.Linear(3, 2), str(tmp_path / 'nowhere.pth'))
