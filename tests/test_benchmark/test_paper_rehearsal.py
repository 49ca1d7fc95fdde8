# Copyright (c) mmgcp contributors. All rights reserved.
"""The paper path end to end: ``bash tools/paper_rehearsal.sh`` runs configs/benchmark/paper.py
itself on the local Slurm (CPU), on data in the exact layouts it reads, from checkpoints in the
published layouts put through the conversion step. Every fine-tuning trains at the paper's input
size, starts from the converted trunk (not random weights), and the report has every run and
comparison."""
import json
import os
import os.path as osp
import subprocess

import pytest
import torch

from mmgcp.benchmark import load_experiment
from mmgcp.utils.safe_checkpoint import load_checkpoint_file

#: The first training batch each kind of fine-tuning receives (batch, channels, height, width):
#: Mask/Faster R-CNN 2 images per GPU resized to 1333 x 800 (the rehearsal's COCO images are
#: 640 x 480 and 640 x 427, so 800 high, padded to a multiple of 32), UperNet 4 crops of 512.
INPUTS = {'det': [2, 3, 800, 1216], 'seg': [4, 3, 512, 512]}
#: The source key of each variant's first conv in its published file.
SOURCE_CONV1 = {'gap': 'conv1.weight', 'gcp': 'module.conv1.weight',
                'dropcov': 'module.conv1.weight'}
SOURCE_FILE = {'gcp': 'iSQRT-COV-R50.pth.tar', 'dropcov': 'DropCov-R50.pth.tar'}


@pytest.mark.slow
def test_paper_rehearsal(slurm, tmp_path, repo_root):
    out = tmp_path / 'rehearsal'
    proc = subprocess.run(['bash', 'tools/paper_rehearsal.sh', str(out)], cwd=repo_root,
                          capture_output=True, text=True, timeout=3600,
                          env=dict(os.environ, SLURM_CONF=slurm))
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    paper = load_experiment(osp.join(repo_root, 'configs/benchmark/paper.py'))
    work = out / 'benchmark'
    results = json.loads((work / 'results.json').read_text())
    rows = {(r['variant'], r['task'], r['seed']): r for r in results['runs']}
    fine_tuning = [t for t, spec in paper.tasks.items() if spec.kind != 'cls']
    expected = {(v, 'imagenet', None) for v in paper.variants} | {
        (v, t, 0) for v in paper.variants for t in fine_tuning}
    assert set(rows) == expected
    assert all(r['state'] == 'done' for r in rows.values()), [
        (k, r['error'][-300:]) for k, r in rows.items() if r['state'] != 'done']

    for variant in paper.variants:
        source = (SOURCE_FILE.get(variant) or
                  next(n for n in os.listdir(out / 'published') if n.startswith('resnet50-')))
        published = torch.load(out / 'published' / source, map_location='cpu',
                               weights_only=True)
        published = published.get('state_dict', published)[SOURCE_CONV1[variant]]
        for task in fine_tuning:
            kind = paper.tasks[task].kind
            run_dir = work / 'runs' / 'seed0' / variant / task
            # the paper's input size reached the model
            shape = json.loads((run_dir / 'batch_shape.json').read_text())['inputs']
            assert shape == INPUTS[kind], (variant, task, shape)
            # the trunk holds the converted published weights: conv1 is frozen in mmdet's
            # fine-tuning (frozen_stages=1), one SGD step at a small lr moves mmseg's a little
            status = json.loads((run_dir / 'status.json').read_text())
            tuned = load_checkpoint_file(status['checkpoint'])['state_dict'][
                'backbone.conv1.weight']
            if kind == 'det':
                assert torch.equal(tuned, published), (variant, task)
            else:
                cosine = torch.nn.functional.cosine_similarity(tuned.flatten(),
                                                               published.flatten(), dim=0)
                assert cosine > 0.99 and not torch.equal(tuned, published), (variant, task)
            # one process per run instead of the recipe's GPUs: lr scaled and recorded
            recipe = results['meta']['recipes'][f'{variant}/{task}/seed0']
            assert recipe['auto_scale_lr'] and recipe['gpus'] == 1
            assert recipe['lr'] == pytest.approx(
                recipe['base_lr'] * recipe['total_batch_size'] / recipe['recipe_total_batch_size'])

    # every variant against GAP on every task and metric; the ImageNet evaluations of fixed
    # checkpoints are single values, never tested
    comparisons = {(c['variant'], c['baseline'], c['task'], c['metric']): c
                   for c in results['comparisons']}
    for variant in ('gcp', 'dropcov'):
        for task, spec in paper.tasks.items():
            for metric in spec.metrics:
                entry = comparisons[(variant, 'gap', task, metric)]
                assert entry['tested'] is False, entry
    assert 'one evaluation of a fixed checkpoint' in (work / 'results.md').read_text()
    assert (work / 'metrics.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    # the conversion step wrote what the preset reads
    for variant in paper.variants:
        assert (out / 'checkpoints' / f'resnet50-{variant}_8xb32_in1k.pth').is_file()
