# Copyright (c) mmgcp contributors. All rights reserved.
"""Every config that builds a GCP module registers mmgcp.NonFiniteCheckHook once, so that any
trainer (``mim train``, the libraries' own tools/train.py) runs the GCP ops without a host sync;
tests/test_engine/test_nonfinite_hook.py shows the effect through mmengine's Runner."""
import copy
import glob
import json
import os.path as osp

import mmdet  # noqa: F401  a dependency of mmgcp
import mmpretrain  # noqa: F401  a dependency of mmgcp
import mmseg  # noqa: F401  a dependency of mmgcp
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmgcp.ops import NonFiniteRecord

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    osp.relpath(p, REPO_ROOT)
    for p in glob.glob(osp.join(REPO_ROOT, 'configs', '**', '*.py'), recursive=True)
    if not osp.relpath(p, REPO_ROOT).startswith(('configs/_base_', 'configs/benchmark')))
NONFINITE_HOOKS = ('mmgcp.NonFiniteCheckHook', 'NonFiniteCheckHook')


def _mmgcp_module_types(node) -> set:
    """The ``mmgcp.*`` module types a model config names (weight initialisers aside)."""
    found = set()
    if isinstance(node, dict):
        if str(node.get('type', '')).startswith('mmgcp.'):
            found.add(node['type'])
        for key, value in node.items():
            if not key.endswith('init_cfg'):
                found |= _mmgcp_module_types(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            found |= _mmgcp_module_types(value)
    return found


def _model_cfg(cfg: Config):
    """The model config with no weights to read: the model only has to be built."""
    model = copy.deepcopy(cfg.model)

    def strip(node):
        if isinstance(node, dict):
            for key in [k for k in node if k.endswith('init_cfg')]:
                node[key] = None
            for value in node.values():
                strip(value)
        elif isinstance(node, list):
            for value in node:
                strip(value)
    strip(model)
    model.pop('pretrained', None)
    return model


def _builds_gcp_module(scope: str, model_cfg) -> bool:
    """Build the model (no weights) and look for a module that owns a NonFiniteRecord."""
    registry = {
        'mmpretrain': 'mmpretrain.registry',
        'mmdet': 'mmdet.registry',
        'mmseg': 'mmseg.registry'
    }[scope]
    models = __import__(registry, fromlist=['MODELS']).MODELS
    with DefaultScope.overwrite_default_scope(scope):
        try:  # without memory: fast for the full-size models
            with torch.device('meta'):
                model = models.build(copy.deepcopy(model_cfg))
        except (NotImplementedError, RuntimeError):  # reads a value while it is built: on CPU
            model = models.build(copy.deepcopy(model_cfg))
    return any(isinstance(getattr(m, 'nonfinite_record', None), NonFiniteRecord)
               for m in model.modules())


@pytest.fixture(scope='module')
def gcp_configs(resolved_config):
    """Every config whose model holds a GCP module, and every other one."""
    candidates, others, built = {}, [], {}
    for path in CONFIGS:
        cfg = resolved_config(path)
        model = _model_cfg(cfg)
        # mmgcp's modules are registered only under the ``mmgcp`` scope: a model that names no
        # ``mmgcp.*`` type cannot build one
        if _mmgcp_module_types(model):
            candidates[path] = (cfg, model)
        else:
            others.append(path)
    gcp = {}
    for path, (cfg, model) in candidates.items():
        key = json.dumps([cfg.default_scope, model.to_dict()], sort_keys=True, default=str)
        if key not in built:  # GAP / GCP / DropCov twins often build the very same model
            built[key] = _builds_gcp_module(cfg.default_scope, model)
        if built[key]:
            gcp[path] = cfg
        else:
            others.append(path)
    return gcp, others


def test_every_config_that_builds_a_gcp_module_registers_the_hook_once(gcp_configs):
    gcp, _ = gcp_configs
    counts = {path: len([h for h in cfg.get('custom_hooks') or []
                         if h.get('type') in NONFINITE_HOOKS]) for path, cfg in gcp.items()}
    wrong = sorted(f'{path}: {n}' for path, n in counts.items() if n != 1)
    assert not wrong, 'configs building a GCP module without exactly one hook:\n' + '\n'.join(
        wrong)


def test_the_search_finds_gcp_modules_where_they_are(gcp_configs):
    gcp, others = gcp_configs
    expected = {
        'configs/pretrain/resnet50-gcp_8xb32_in1k.py',  # GCPNeck
        'configs/pretrain/resnet101-dropcov_8xb32_in1k.py',  # DropCovNeck
        'configs/pretrain/deit-small-dropcov_8xb128_in1k.py',  # ElementDropCovClsHead
        'configs/pretrain/densetok-vit-tiny-dropcov_8xb128_in1k.py',  # MultiHeadCovClsHead
        'configs/mask_rcnn/mask-rcnn_r50-gap_cov-fpn_1x_coco.py',  # CovAttentionNeck
        'configs/upernet/upernet-cov_r50-gap_4xb4-160k_ade20k-512x512.py',  # CovUPerHead
        'configs/toy/analysis/resnet18-w16-dropcov-landscape_1xb32_toy.py',
    }
    assert expected <= set(gcp), expected - set(gcp)
    # trunk-only transfers and GAP classifiers hold none (the DenseTokenViT trunk neither)
    assert {'configs/mask_rcnn/mask-rcnn_r50-gcp-s1_fpn_1x_coco.py',
            'configs/pretrain/resnet50-gap_8xb32_in1k.py',
            'configs/upernet/upernet_densetok-vit-s-dropcov_8xb2-160k_ade20k-512x512.py'} <= \
        set(others)
    assert len(gcp) + len(others) == len(CONFIGS)
