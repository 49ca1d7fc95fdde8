# Copyright (c) mmgcp contributors. All rights reserved.
"""The libraries' inference APIs refuse a checkpoint that would run code once mmgcp is imported
(they load through mmengine's local loader, which mmgcp replaces with its safe one)."""
import os

import pytest
import torch

import mmgcp  # noqa: F401
from mmgcp.utils import TRUST_ENV, UntrustedCheckpointError

CLS_CFG = 'configs/toy/resnet18-w16-gcp_1xb32_toy.py'
SEG_CFG = 'configs/toy/seg/upernet_r18-w16-gcp_1xb4_toy-128x128.py'
SYSTEM = f'{os.system.__module__}.system'


class CreatesFile:
    """Unpickling it creates ``target``: a checkpoint that runs a shell command when loaded."""

    def __init__(self, target: str):
        self.target = target

    def __reduce__(self):
        return (os.system, (f'touch {self.target}', ))


@pytest.fixture
def crafted(tmp_path, monkeypatch):
    monkeypatch.delenv(TRUST_ENV, raising=False)
    marker = tmp_path / 'code_ran'
    path = str(tmp_path / 'crafted.pth')
    torch.save(dict(state_dict={}, meta=CreatesFile(str(marker))), path)
    return path, marker


def test_image_classification_inferencer_refuses_crafted_checkpoint(repo_root, crafted):
    from mmpretrain import ImageClassificationInferencer, get_model
    path, marker = crafted
    with pytest.raises(UntrustedCheckpointError, match=SYSTEM) as info:
        ImageClassificationInferencer(f'{repo_root}/{CLS_CFG}', pretrained=path, device='cpu')
    assert path in str(info.value)
    with pytest.raises(UntrustedCheckpointError, match=SYSTEM):
        get_model(f'{repo_root}/{CLS_CFG}', pretrained=path)
    assert not marker.exists()


def test_seg_inferencer_refuses_crafted_checkpoint(repo_root, crafted):
    from mmseg.apis import MMSegInferencer
    path, marker = crafted
    with pytest.raises(UntrustedCheckpointError, match=SYSTEM):
        MMSegInferencer(f'{repo_root}/{SEG_CFG}', weights=path, device='cpu')
    assert not marker.exists()
