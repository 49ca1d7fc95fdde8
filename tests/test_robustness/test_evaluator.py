# Copyright (c) mmgcp contributors. All rights reserved.
"""End-to-end: mmgcp.robustness.evaluate_robustness (what tools/analysis/robustness.py calls) on
untrained toy models of the three libraries, in the test process."""
import csv
import importlib
import itertools
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmgcp.datasets import make_toy_ade20k, make_toy_classification, make_toy_coco
from mmgcp.robustness import evaluate_robustness, plot_result_files

TASKS = {
    'cls': dict(config='configs/toy/resnet18-w16-gap_1xb32_toy.py', metric='accuracy/top1',
                corruptions=['gaussian_noise', 'frost'], severities=[0, 1, 3]),
    'det': dict(config='configs/toy/det/mask-rcnn_r18-w16-gap_fpn_1xb4_toy.py',
                metric='coco/bbox_mAP', corruptions=['impulse_noise', 'fog'], severities=[0, 1]),
    'seg': dict(config='configs/toy/seg/upernet_r18-w16-gap_1xb4_toy-128x128.py', metric='mIoU',
                corruptions=['shot_noise', 'glass_blur'], severities=[0, 1]),
}


def _data_options(kind: str, root: str) -> dict:
    if kind == 'cls':
        make_toy_classification(osp.join(root, 'cls'), num_train_per_class=1,
                                num_val_per_class=2, img_size=64)
        return {'test_dataloader.dataset.data_root': f'{root}/cls',
                'test_dataloader.num_workers': 0}
    if kind == 'det':
        make_toy_coco(osp.join(root, 'coco'), num_train=1, num_val=2, img_size=64)
        return {'test_dataloader.dataset.data_root': f'{root}/coco/',
                'test_evaluator.ann_file': f'{root}/coco/annotations/instances_val.json'}
    make_toy_ade20k(osp.join(root, 'ade20k'), num_train=1, num_val=2, img_size=64)
    return {'test_dataloader.dataset.data_root': f'{root}/ade20k'}


def _untrained_checkpoint(config: str, path: str) -> str:
    """Weights of the model built from the config, untrained: enough to test the plumbing."""
    cfg = Config.fromfile(config)
    init_default_scope(cfg.default_scope)
    models = importlib.import_module(f'{cfg.default_scope}.registry').MODELS
    torch.manual_seed(0)
    torch.save({'state_dict': models.build(cfg.model).state_dict(), 'meta': {}}, path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize('kind', list(TASKS))
def test_evaluate_robustness(kind, tmp_path, repo_root, monkeypatch):
    task = TASKS[kind]
    options = _data_options(kind, str(tmp_path / 'data'))
    checkpoint = _untrained_checkpoint(osp.join(repo_root, task['config']),
                                       str(tmp_path / 'model.pth'))
    out_dir = tmp_path / 'robustness'
    monkeypatch.chdir(repo_root)
    evaluate_robustness(task['config'], checkpoint, corruptions=task['corruptions'],
                        severities=task['severities'], work_dir=str(tmp_path / 'work'),
                        out_dir=str(out_dir), cfg_options=options)

    with open(out_dir / 'robustness.json') as f:
        result = json.load(f)
    expected = set(itertools.product(task['corruptions'], task['severities']))
    assert {(r['corruption'], r['severity']) for r in result['results']} == expected
    assert len(result['results']) == len(expected)
    assert result['metric'] == task['metric'] and result['task'] == kind
    for row in result['results']:
        assert task['metric'] in row['metrics']
        if row['severity'] == 0:  # clean, exactly
            assert row['metrics'] == result['clean']
    summary = result['summary']
    assert summary['clean'] == result['clean'][task['metric']]
    assert set(summary['per_corruption']) == set(task['corruptions'])
    assert {'mPC', 'rPC', 'mCE'} <= set(summary)

    with open(out_dir / 'robustness.csv') as f:
        rows = list(csv.DictReader(f))
    assert {(r['corruption'], int(r['severity'])) for r in rows} == expected | {('clean', 0)}
    assert (out_dir / 'robustness.png').stat().st_size > 0

    if kind == 'cls':  # the plot sub-command, one line per variant
        plot = tmp_path / 'compare.png'
        plot_result_files([str(out_dir / 'robustness.json')] * 2, str(plot), labels=['gap', 'gcp'])
        assert plot.stat().st_size > 0
