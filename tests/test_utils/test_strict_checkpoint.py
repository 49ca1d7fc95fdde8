# Copyright (c) mmgcp contributors. All rights reserved.
"""mmgcp.utils.strict_checkpoint: evaluation refuses checkpoints that do not cover the model."""
import pytest
import torch
from mmengine.config import Config
from torch import nn

from mmgcp.utils import CheckpointMismatchError, check_checkpoint_covers_model


class Classifier(nn.Module):

    def __init__(self, classes=4):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))
        self.neck = nn.Conv2d(8, 6, 1)
        self.head = nn.Linear(6, classes)


def _save(path, state, **meta):
    torch.save(dict(state_dict=state, meta=meta), path)
    return str(path)


def test_a_checkpoint_of_the_same_model_passes(tmp_path):
    model = Classifier()
    path = _save(tmp_path / 'same.pth', Classifier().state_dict())
    assert check_checkpoint_covers_model(model, path) == dict(missing=[], unexpected=[],
                                                             shape=[])
    # DataParallel-style 'module.' prefixes are removed, as mmengine does
    wrapped = {f'module.{k}': v for k, v in Classifier().state_dict().items()}
    check_checkpoint_covers_model(model, _save(tmp_path / 'dp.pth', wrapped))


def test_trunk_only_checkpoint_is_refused_with_keys_origin_and_fix(tmp_path):
    trunk = {k: v for k, v in Classifier().state_dict().items() if k.startswith('backbone.')}
    cfg_text = Config(dict(model=dict(type='ImageClassifier', backbone=dict(type='ResNet'),
                                      neck=dict(type='mmgcp.GCPNeck')))).pretty_text
    path = _save(tmp_path / 'trunk.pth', trunk,
                 experiment_name='resnet18-w16-gcp_1xb32_toy_20261202_034000', cfg=cfg_text)
    with pytest.raises(CheckpointMismatchError) as info:
        check_checkpoint_covers_model(Classifier(), path, config='configs/x.py')
    message = str(info.value)
    print(message)
    assert path in message and 'configs/x.py' in message
    assert 'missing from the checkpoint' in message
    for key in ('neck.weight', 'neck.bias', 'head.weight', 'head.bias'):
        assert key in message
    assert 'backbone.0.weight' not in message
    assert ('made for: config resnet18-w16-gcp_1xb32_toy (model ImageClassifier, backbone '
            'ResNet, neck mmgcp.GCPNeck)') in message
    assert '--allow-partial' in message and 'tools/train.py' in message


def test_unexpected_and_reshaped_keys_are_refused(tmp_path):
    state = Classifier(classes=10).state_dict()
    state['roi_head.fc.weight'] = torch.zeros(2, 2)
    path = _save(tmp_path / 'other.pth', state)
    with pytest.raises(CheckpointMismatchError) as info:
        check_checkpoint_covers_model(Classifier(classes=4), path)
    message = str(info.value)
    assert 'in the checkpoint but not in the model: roi_head.fc.weight' in message
    assert 'head.weight: checkpoint (10, 6) vs model (4, 6)' in message
    assert 'made for: unknown (no meta in the file)' in message


def test_many_keys_are_summarised_by_prefix(tmp_path):
    path = _save(tmp_path / 'empty.pth', {'unrelated.weight': torch.zeros(1)})
    big = nn.ModuleDict({'neck': nn.Sequential(*[nn.Linear(2, 2) for _ in range(10)])})
    with pytest.raises(CheckpointMismatchError) as info:
        check_checkpoint_covers_model(big, path)
    assert '(20 in all: neck.0.* (2), neck.1.* (2)' in str(info.value)


def test_allow_partial_reports_instead_of_raising(tmp_path):
    trunk = {k: v for k, v in Classifier().state_dict().items() if k.startswith('backbone.')}
    diff = check_checkpoint_covers_model(Classifier(), _save(tmp_path / 't.pth', trunk),
                                         allow_partial=True)
    assert diff['missing'] == ['head.bias', 'head.weight', 'neck.bias', 'neck.weight']


def test_missing_file_says_what_to_pass(tmp_path):
    with pytest.raises(FileNotFoundError, match='tools/train.py'):
        check_checkpoint_covers_model(Classifier(), str(tmp_path / 'none.pth'))
