# Copyright (c) mmgcp contributors. All rights reserved.
"""The libraries' inference APIs refuse a checkpoint that would run code once mmgcp is imported
(they load through mmengine's local loader, which mmgcp replaces with its safe one)."""
import os

import pytest

import mmgcp  # noqa: F401
from mmgcp.utils import UntrustedCheckpointError

CLS_CFG = 'configs/toy/resnet18-w16-gcp_1xb32_toy.py'
SEG_CFG = 'configs/toy/seg/upernet_r18-w16-gcp_1xb4_toy-128x128.py'
SYSTEM = f'{os.system.__module__}.system'  # what the crafted checkpoints' pickle calls


def test_image_classification_inferencer_refuses_crafted_checkpoint(repo_root,
                                                                   crafted_checkpoint):
    from mmpretrain import ImageClassificationInferencer, get_model
    path, marker = crafted_checkpoint()
    with pytest.raises(UntrustedCheckpointError, match=SYSTEM) as info:
        ImageClassificationInferencer(f'{repo_root}/{CLS_CFG}', pretrained=path, device='cpu')
    assert path in str(info.value)
    with pytest.raises(UntrustedCheckpointError, match=SYSTEM):
        get_model(f'{repo_root}/{CLS_CFG}', pretrained=path)
    assert not marker.exists()


def test_seg_inferencer_refuses_crafted_checkpoint(repo_root, crafted_checkpoint):
    from mmseg.apis import MMSegInferencer
    path, marker = crafted_checkpoint()
    with pytest.raises(UntrustedCheckpointError, match=SYSTEM):
        MMSegInferencer(f'{repo_root}/{SEG_CFG}', weights=path, device='cpu')
    assert not marker.exists()
