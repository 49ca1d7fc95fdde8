# Copyright (c) mmgcp contributors. All rights reserved.
"""Every GCP / DropCov config has its GAP twin: the config of the same name with ``-gap`` for
``-gcp`` / ``-dropcov``, and differs from it only in what the comparison is about. The list is
every config under configs/ (nothing is pre-filtered by whether its twin exists), so a missing
twin fails here; the resolved configs of each pair (every ``_base_`` merged) are compared key by
key against an explicit list of allowed differences per kind of pair."""
import glob
import os.path as osp
import re

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ALL_CONFIGS = sorted(
    osp.relpath(p, REPO_ROOT)
    for p in glob.glob(osp.join(REPO_ROOT, 'configs', '**', '*.py'), recursive=True)
    if not osp.relpath(p, REPO_ROOT).startswith(('configs/_base_', 'configs/benchmark')))
_VARIANT = re.compile(r'-(gcp|dropcov)(?=[-_])')


def gap_twin(path: str):
    """``configs/x/mask-rcnn_r50-gcp-d2_fpn_1x_coco.py`` -> ``configs/x/mask-rcnn_r50-gap-d2_...``;
    None for a config that is not GCP / DropCov."""
    name = osp.basename(path)
    if not _VARIANT.search(name):
        return None
    return osp.join(osp.dirname(path), _VARIANT.sub('-gap', name, count=1))


COV_CONFIGS = [p for p in ALL_CONFIGS if gap_twin(p)]


def test_the_twin_rule_on_known_names():
    assert gap_twin('configs/mask_rcnn/mask-rcnn_r50-gcp-d2_fpn_1x_coco.py') == \
        'configs/mask_rcnn/mask-rcnn_r50-gap-d2_fpn_1x_coco.py'
    assert gap_twin('configs/faster_rcnn/faster-rcnn_r50-gcp_cov-fpn_1x_coco.py') == \
        'configs/faster_rcnn/faster-rcnn_r50-gap_cov-fpn_1x_coco.py'
    assert gap_twin('configs/toy/seg/upernet-cov_r18-w16-gcp_1xb4_toy-128x128.py') == \
        'configs/toy/seg/upernet-cov_r18-w16-gap_1xb4_toy-128x128.py'
    assert gap_twin('configs/pretrain/deit-small-dropcov_8xb128_in1k.py') == \
        'configs/pretrain/deit-small-gap_8xb128_in1k.py'
    assert gap_twin('configs/pretrain/resnet50-gap_8xb32_in1k.py') is None


def test_all_configs_are_listed():
    # the glob really sees the tree: every folder, and GCP/DropCov configs of each kind
    folders = {osp.dirname(p) for p in COV_CONFIGS}
    assert {'configs/pretrain', 'configs/mask_rcnn', 'configs/faster_rcnn', 'configs/upernet',
            'configs/toy', 'configs/toy/det', 'configs/toy/seg', 'configs/toy/analysis'} <= folders
    assert len(COV_CONFIGS) >= 45, len(COV_CONFIGS)


def test_every_gcp_and_dropcov_config_has_its_gap_twin():
    missing = [f'{p} -> {gap_twin(p)}' for p in COV_CONFIGS
               if not osp.isfile(osp.join(REPO_ROOT, gap_twin(p)))]
    assert not missing, 'GAP twins missing:\n' + '\n'.join(missing)


#: The settings a checkpoint provides in a fine-tuning config.
CHECKPOINT = ('pretrained', 'model.backbone.init_cfg.checkpoint',
              'model.backbone.init_cfg.pretrain_config')
#: What a GCP / DropCov config may change in its GAP twin, per kind of pair (a path, or a part of
#: the config under it). Besides these, the GCP / DropCov config may register
#: mmgcp.NonFiniteCheckHook, which only GCP modules use (test_nonfinite_hook_configs.py); nothing
#: else may differ: data, schedule, optimiser, other hooks, runtime, and every module setting
#: (norm_eval included).
ALLOWED = {
    # detection / segmentation: the same model fine-tuned from another checkpoint
    'transfer': CHECKPOINT,
    # with a covariance neck / head (the same one in both): its reduction also starts from the
    # checkpoint, where the GAP control trains it from scratch
    'cov-transfer': CHECKPOINT + ('model.neck.0.reduction_init_cfg',
                                  'model.decode_head.reduction_init_cfg'),
    # ImageNet / toy classifiers: the pooling under test (the neck and the head on it) and what it
    # needs from the trunk (the GCP ResNets' stride-1 last stage, the ViT's raw tokens), and the
    # import of mmgcp that builds it
    'classifier': ('model.neck', 'model.head', 'model.backbone.strides',
                   'model.backbone.out_type', 'custom_imports'),
}
NONFINITE_HOOKS = ('mmgcp.NonFiniteCheckHook', 'NonFiniteCheckHook')


def pair_kind(path: str) -> str:
    """The kind of comparison a GCP / DropCov config makes with its GAP twin."""
    name = osp.basename(path)
    if '_cov-fpn' in name or name.startswith('upernet-cov'):
        return 'cov-transfer'
    if path.startswith(('configs/pretrain/', 'configs/toy/')) and not path.startswith(
            ('configs/toy/det/', 'configs/toy/seg/')):
        return 'classifier'
    return 'transfer'


def _without_nonfinite_hook(cfg: dict) -> dict:
    cfg = dict(cfg)
    hooks = [h for h in cfg.get('custom_hooks') or [] if h.get('type') not in NONFINITE_HOOKS]
    cfg['custom_hooks'] = hooks or None
    return cfg


def unexpected_differences(kind: str, cov: dict, gap: dict, config_diff) -> list:
    """The paths where a GCP / DropCov config (resolved, as a dict) and its GAP twin differ
    outside ``ALLOWED[kind]``."""
    allowed = ALLOWED[kind]
    diff = config_diff(_without_nonfinite_hook(cov), _without_nonfinite_hook(gap))
    return [p for p in diff if not any(p == a or p.startswith(a + '.') for a in allowed)]


def test_pair_kinds_on_known_names():
    assert pair_kind('configs/mask_rcnn/mask-rcnn_r50-gcp-s1_fpn_1x_coco.py') == 'transfer'
    assert pair_kind('configs/toy/det/mask-rcnn_r18-w16-gcp_cov-fpn_1xb4_toy.py') == \
        'cov-transfer'
    assert pair_kind('configs/upernet/upernet-cov_r50-dropcov_4xb4-160k_ade20k-512x512.py') == \
        'cov-transfer'
    assert pair_kind('configs/toy/analysis/resnet18-w16-gcp-landscape_1xb32_toy.py') == \
        'classifier'
    assert pair_kind('configs/pretrain/deit-small-dropcov_8xb128_in1k.py') == 'classifier'


PAIRS = [(p, gap_twin(p)) for p in COV_CONFIGS]


@pytest.mark.parametrize('path, twin', PAIRS, ids=[osp.basename(p)[:-3] for p, _ in PAIRS])
def test_gcp_and_dropcov_configs_differ_from_their_gap_twin_only_where_allowed(
        path, twin, config_diff, resolved_config):
    import mmdet  # noqa: F401  a dependency of mmgcp
    import mmseg  # noqa: F401  a dependency of mmgcp
    cov, gap = resolved_config(path).to_dict(), resolved_config(twin).to_dict()
    kind = pair_kind(path)
    assert not unexpected_differences(kind, cov, gap, config_diff), \
        f'{kind} pair: only {ALLOWED[kind]} may differ'
    # and they are not the same experiment
    assert config_diff(cov, gap)
    if kind != 'classifier':
        assert cov['pretrained'] != gap['pretrained']


def test_a_neck_setting_outside_the_list_fails_the_pair(config_diff, resolved_config):
    # the check sees what it must refuse: norm_eval of a neck, a trunk's strides, the schedule
    path = 'configs/mask_rcnn/mask-rcnn_r50-gcp_cov-fpn_1x_coco.py'
    cov, gap = resolved_config(path).to_dict(), resolved_config(gap_twin(path)).to_dict()
    assert not unexpected_differences('cov-transfer', cov, gap, config_diff)
    cov['model']['neck'][0]['norm_eval'] = True
    cov['model']['backbone']['strides'] = (1, 2, 2, 1)
    cov['train_cfg']['max_epochs'] = 24
    cov['custom_hooks'] = (cov.get('custom_hooks') or []) + [dict(type='EMAHook')]
    assert unexpected_differences('cov-transfer', cov, gap, config_diff) == [
        'custom_hooks', 'model.backbone.strides', 'model.neck.0.norm_eval',
        'train_cfg.max_epochs']
