# Copyright (c) mmgcp contributors. All rights reserved.
"""Every GCP / DropCov config has its GAP twin: the config of the same name with ``-gap`` for
``-gcp`` / ``-dropcov``. The list is every config under configs/ (nothing is pre-filtered by
whether its twin exists), so a missing twin fails here. How twins may differ is checked in
test_det_seg_configs.py (detection, segmentation) and test_pretrain_configs.py (pretraining)."""
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


CLS_TWINS = [(p, gap_twin(p)) for p in COV_CONFIGS
             if p.startswith(('configs/pretrain/', 'configs/toy/')) and '/det/' not in p
             and '/seg/' not in p]


def _diff(a, b, path=''):
    """Paths (``model.neck.type``) where two nested configs differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            out += _diff(a.get(key), b.get(key), f'{path}.{key}' if path else str(key))
        return out
    return [] if a == b else [path]


@pytest.mark.parametrize('path, twin', CLS_TWINS, ids=[osp.basename(p)[:-3] for p, _ in CLS_TWINS])
def test_classification_twins_differ_only_in_the_pooling(path, twin):
    # what GCP / DropCov needs: its neck and the head on top of it (input width, dropout), for
    # the ResNets the stride-1 last stage the published models use, for DeiT the raw tokens the
    # covariance head reads; nothing else (data, schedule, optimiser, hooks, runtime) may differ
    pytest.importorskip('mmpretrain')
    from mmengine.config import Config
    a = Config.fromfile(osp.join(REPO_ROOT, path)).to_dict()
    b = Config.fromfile(osp.join(REPO_ROOT, twin)).to_dict()
    diff = _diff(a, b)
    allowed = ('model.neck', 'model.head', 'model.backbone.strides', 'model.backbone.out_type',
               'custom_imports')
    assert diff and all(k.startswith(allowed) for k in diff), diff
