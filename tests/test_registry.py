# Copyright (c) mmgcp contributors. All rights reserved.
"""Configs of mmpretrain, mmdet and mmseg build mmgcp modules as ``type='mmgcp.Name'``."""
import pytest
import torch
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import DefaultScope, init_default_scope

import mmgcp
from mmgcp.models import GCPNeck


def test_mmgcp_registry_is_a_scoped_child_of_mmengine_root():
    assert mmgcp.MODELS.scope == 'mmgcp'
    assert mmgcp.MODELS.parent is MMENGINE_MODELS
    assert MMENGINE_MODELS.children['mmgcp'] is mmgcp.MODELS
    assert mmgcp.MODELS.get('GCPNeck') is GCPNeck


@pytest.mark.parametrize('library', ['mmpretrain', 'mmdet', 'mmseg'])
def test_library_registry_builds_mmgcp_module(library):
    registry = __import__(f'{library}.registry', fromlist=['MODELS']).MODELS
    assert registry.scope == library
    cfg = dict(type='mmgcp.GCPNeck', in_channels=8, reduced_channels=4, post_norm='isqrt')
    with DefaultScope.overwrite_default_scope(library):
        neck = registry.build(cfg)
    assert type(neck) is GCPNeck and neck.reduced_channels == 4
    (out, ) = neck(torch.randn(2, 8, 3, 3))
    assert out.shape == (2, 10)


def test_config_custom_imports_and_scoped_type(tmp_path):
    from mmengine.config import Config
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text(
        "custom_imports = dict(imports=['mmgcp'], allow_failed_imports=False)\n"
        "default_scope = 'mmpretrain'\n"
        "model = dict(type='ImageClassifier',\n"
        "    backbone=dict(type='ResNet', depth=18, base_channels=8, stem_channels=8,\n"
        "                  strides=(1, 2, 2, 1)),\n"
        "    neck=dict(type='mmgcp.GCPNeck', in_channels=64, reduced_channels=16),\n"
        "    head=dict(type='LinearClsHead', num_classes=3, in_channels=136))\n")
    cfg = Config.fromfile(str(cfg_file))
    init_default_scope(cfg.default_scope)
    from mmpretrain.registry import MODELS
    model = MODELS.build(cfg.model)
    assert isinstance(model.neck, GCPNeck)
    logits = model(torch.randn(2, 3, 32, 32), mode='tensor')
    assert logits.shape == (2, 3)


def test_unknown_mmgcp_type_is_a_clear_error():
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        with pytest.raises(KeyError, match='GCPNek'):
            MODELS.build(dict(type='mmgcp.GCPNek', in_channels=8))


def test_every_registry_holds_what_its_locations_register():
    from mmengine.registry import Registry

    import mmgcp.registry as registry
    registries = {name: value for name, value in vars(registry).items()
                  if isinstance(value, Registry) and value.scope == 'mmgcp'}
    assert set(registries) == {'MODELS', 'HOOKS', 'TRANSFORMS', 'OPTIM_WRAPPERS',
                               'WEIGHT_INITIALIZERS'}
    for name, value in registries.items():
        value.import_from_location()
        assert len(value.module_dict) > 0, f'{name} is empty'
    assert 'Corrupt' in registry.TRANSFORMS.module_dict
    assert 'PretrainedChecked' in registry.WEIGHT_INITIALIZERS.module_dict
