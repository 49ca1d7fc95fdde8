# Copyright (c) mmgcp contributors. All rights reserved.
"""The toy detection and segmentation configs fine-tune a toy-pretrained GCP trunk and evaluate
end to end through tools/train.py, tools/test.py and `mim train`; the metrics are pycocotools' and
IoUMetric's."""
import json
import math
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest

from mmgcp.utils import load_checkpoint_file

pytestmark = pytest.mark.slow

DET_CONFIG = 'configs/toy/det/mask-rcnn_r18-w16-gcp_cov-fpn_1xb4_toy.py'
DET_PLAIN_CONFIG = 'configs/toy/det/mask-rcnn_r18-w16-gcp_fpn_1xb4_toy.py'
SEG_CONFIG = 'configs/toy/seg/upernet-cov_r18-w16-gcp_1xb4_toy-128x128.py'
# One thread per process: on 2 shared cores a second OpenMP thread only spins (10x slower).
ENV = {'OMP_NUM_THREADS': '1'}


def _det_options(data: dict, checkpoint: str, epochs: int, with_neck: bool = True) -> list:
    root = data['root'] + '/'
    ann = data['val_ann_file']
    options = [
        f'model.backbone.init_cfg.checkpoint={checkpoint}',
        f'train_dataloader.dataset.data_root={root}',
        f'val_dataloader.dataset.data_root={root}',
        f'test_dataloader.dataset.data_root={root}',
        f'val_evaluator.ann_file={ann}',
        f'test_evaluator.ann_file={ann}',
        f'train_cfg.max_epochs={epochs}',
        f'train_cfg.val_interval={epochs}',
    ]
    if with_neck:
        options.append(f'model.neck.0.reduction_init_cfg.checkpoint={checkpoint}')
    return options


def _seg_options(data: dict, checkpoint: str, iters: int) -> list:
    root = data['root']
    return [
        f'model.backbone.init_cfg.checkpoint={checkpoint}',
        f'model.decode_head.reduction_init_cfg.checkpoint={checkpoint}',
        f'train_dataloader.dataset.data_root={root}',
        f'val_dataloader.dataset.data_root={root}',
        f'test_dataloader.dataset.data_root={root}',
        f'train_cfg.max_iters={iters}',
        f'train_cfg.val_interval={iters}',
        f'param_scheduler.0.end={iters}',
        f'default_hooks.checkpoint.interval={iters}',
    ]


def _last_val_metrics(work_dir: str) -> dict:
    """The metrics of the last validation, from mmengine's scalars.json of the run."""
    paths = []
    for root, _, files in os.walk(work_dir):
        paths += [osp.join(root, f) for f in files if f == 'scalars.json']
    assert paths, f'no scalars.json under {work_dir}'
    records = [json.loads(line) for line in open(sorted(paths)[-1])]
    return [r for r in records if any('mAP' in k or 'mIoU' in k for k in r)][-1]


def _assert_metric(value, upper: float):
    assert isinstance(value, float) and math.isfinite(value)
    assert 0.0 <= value <= upper


def test_toy_detection_fine_tunes_gcp_trunk_and_neck_and_evaluates_with_pycocotools(
        tool_runner, toy_data, toy_gcp_checkpoint, tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    data = toy_data['coco']
    work = str(tmp_path / 'det')
    proc = tool_runner(['tools/train.py', DET_CONFIG, '--work-dir', work, '--cfg-options',
                        *_det_options(data, toy_gcp_checkpoint, epochs=4)], env=ENV)
    log = proc.stdout + proc.stderr
    # the toy-pretrained trunk and the GCP head's reduction were loaded, nothing was missing
    assert f'load backbone.* of {toy_gcp_checkpoint} into ResNet' in log
    assert f'load neck.reduction.* of {toy_gcp_checkpoint} into ConvModule' in log
    checkpoint = osp.join(work, 'epoch_4.pth')
    state = load_checkpoint_file(checkpoint, map_location='cpu', trust=False)['state_dict']
    assert 'neck.0.reduction.conv.weight' in state and 'neck.1.lateral_convs.0.conv.weight' in state

    out = str(tmp_path / 'det_metrics.json')
    prefix = str(tmp_path / 'det_results')
    tool_runner(['tools/test.py', DET_CONFIG, checkpoint, '--work-dir', work, '--out', out,
                 '--cfg-options', *_det_options(data, toy_gcp_checkpoint, epochs=4),
                 f'test_evaluator.outfile_prefix={prefix}'], env=ENV)
    metrics = json.load(open(out))
    for task in ('bbox', 'segm'):
        _assert_metric(metrics[f'coco/{task}_mAP'], 1.0)
        _assert_metric(metrics[f'coco/{task}_mAP_50'], 1.0)
        # the same numbers as pycocotools on the dumped predictions
        gt = COCO(data['val_ann_file'])
        evaluator = COCOeval(gt, gt.loadRes(f'{prefix}.{task}.json'), task)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
        assert metrics[f'coco/{task}_mAP'] == pytest.approx(evaluator.stats[0], abs=1e-3)
        # and the same as the validation at the end of training
        assert metrics[f'coco/{task}_mAP'] == pytest.approx(
            _last_val_metrics(work)[f'coco/{task}_mAP'], abs=1e-3)
    # learned something: after these 4 epochs AP50 was 0.138 (box) and 0.170 (mask) here; the
    # same model before fine-tuning (trunk and reduction loaded, heads at init) scores 0.000
    assert metrics['coco/bbox_mAP_50'] > 0.04 and metrics['coco/segm_mAP_50'] > 0.04, metrics
    print(f'toy Mask R-CNN (GCP trunk + CovAttentionNeck): {metrics}')


def test_toy_segmentation_fine_tunes_gcp_trunk_and_head_and_evaluates_with_iou_metric(
        tool_runner, toy_data, toy_gcp_checkpoint, tmp_path):
    data = toy_data['ade20k']
    work = str(tmp_path / 'seg')
    iters = 120
    proc = tool_runner(['tools/train.py', SEG_CONFIG, '--work-dir', work, '--cfg-options',
                        *_seg_options(data, toy_gcp_checkpoint, iters)], env=ENV)
    log = proc.stdout + proc.stderr
    assert f'load backbone.* of {toy_gcp_checkpoint} into ResNet' in log
    assert f'load neck.reduction.* of {toy_gcp_checkpoint} into ConvModule' in log
    checkpoint = osp.join(work, f'iter_{iters}.pth')
    assert osp.isfile(checkpoint)

    out = str(tmp_path / 'seg_metrics.json')
    tool_runner(['tools/test.py', SEG_CONFIG, checkpoint, '--work-dir', work, '--out', out,
                 '--cfg-options', *_seg_options(data, toy_gcp_checkpoint, iters)], env=ENV)
    metrics = json.load(open(out))
    for key in ('mIoU', 'aAcc', 'mAcc'):
        _assert_metric(metrics[key], 100.0)
    # pixel accuracy above chance over 4 classes: the fine-tuned model has learned something
    assert metrics['aAcc'] > 25.0
    assert metrics['mIoU'] == pytest.approx(_last_val_metrics(work)['mIoU'], abs=1e-2)
    # the config evaluates 8 images per batch; one by one gives the same numbers
    out_one = str(tmp_path / 'seg_metrics_bs1.json')
    tool_runner(['tools/test.py', SEG_CONFIG, checkpoint, '--work-dir', work, '--out', out_one,
                 '--cfg-options', *_seg_options(data, toy_gcp_checkpoint, iters),
                 'test_dataloader.batch_size=1'], env=ENV)
    one_by_one = json.load(open(out_one))
    for key in ('mIoU', 'aAcc', 'mAcc'):
        assert one_by_one[key] == pytest.approx(metrics[key], abs=1e-2)
    print(f'toy UperNet (GCP trunk + CovUPerHead): {metrics}')


def test_toy_detection_through_mim_train(toy_data, toy_gcp_checkpoint, tmp_path, repo_root):
    mim = shutil.which('mim', path=osp.dirname(sys.executable)) or shutil.which('mim')
    # openmim is a requirement (requirements/mim.txt, installed by tools/setup_env.sh)
    assert mim is not None, 'no `mim` next to the interpreter or on PATH: run tools/setup_env.sh'
    work = str(tmp_path / 'mim')
    env = dict(os.environ)
    env.update(ENV)
    env['PYTHONPATH'] = repo_root + os.pathsep + env.get('PYTHONPATH', '')
    env['PATH'] = osp.dirname(sys.executable) + os.pathsep + env.get('PATH', '')
    options = _det_options(toy_data['coco'], toy_gcp_checkpoint, epochs=1, with_neck=False)
    proc = subprocess.run(
        [mim, 'train', 'mmdet', DET_PLAIN_CONFIG, '--gpus', '0', '--work-dir', work,
         '--cfg-options', *options],
        cwd=repo_root, env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))
    metrics = _last_val_metrics(work)
    _assert_metric(metrics['coco/bbox_mAP'], 1.0)
    _assert_metric(metrics['coco/segm_mAP'], 1.0)


def test_missing_pretrained_checkpoint_stops_train_tool_with_how_to(tool_runner, toy_data,
                                                                    tmp_path):
    missing = str(tmp_path / 'no-such-toy-classifier.pth')
    proc = tool_runner(['tools/train.py', DET_PLAIN_CONFIG, '--work-dir', str(tmp_path / 'w'),
                        '--cfg-options', *_det_options(toy_data['coco'], missing, epochs=1,
                                                       with_neck=False)], env=ENV,
                        check=False)
    assert proc.returncode != 0
    assert 'FileNotFoundError' in proc.stderr
    assert f"pretrained checkpoint '{missing}' does not exist" in proc.stderr
    assert 'python tools/train.py configs/toy/resnet18-w16-gcp_1xb32_toy.py' in proc.stderr
    assert 'model.backbone.init_cfg.checkpoint=PATH' in proc.stderr
