# Copyright (c) mmgcp contributors. All rights reserved.
"""Given checkpoints are converted and checked once, before any run starts, and a variant can
say which head its checkpoint has (the 128-d iSQRT-COV release): evaluated end to end with
``--workers 0`` (one process per tool call) on ImageNet-layout data."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from mmgcp.converters.published_layouts import write_published_checkpoint
from mmgcp.datasets.paper_layout import write_imagenet

HEAD_128 = dict(model=dict(neck=dict(reduced_channels=128), head=dict(in_channels=8256)))


def _experiment(tmp_path, repo_root, checkpoint, head_options):
    variant = dict(pretrain_config='configs/pretrain/resnet50-gcp_8xb32_in1k.py',
                   checkpoint=str(checkpoint))
    if head_options:
        variant['cfg_options'] = dict(imagenet=head_options)
    exp = tmp_path / f'exp_{bool(head_options)}.py'
    exp.write_text(f"""_base_ = '{repo_root}/configs/benchmark/paper.py'
device = 'cpu'
data_root = '{tmp_path}/data'
variants = dict(_delete_=True, gcp={variant!r})
tasks = dict(_delete_=True, imagenet=dict(kind='cls', metrics=['accuracy/top1']))
""")
    return str(exp)


def _benchmark(exp, work, repo_root, *extra):
    cmd = [sys.executable, 'tools/benchmark_transfer.py', exp, '--workers', '0',
           '--auto-scale-lr', '--seeds', '3', '--work-dir', str(work), *extra]
    return subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, PYTHONPATH=repo_root))


@pytest.mark.slow
def test_128d_release_is_converted_once_and_evaluated_with_its_head(tmp_path, repo_root):
    write_imagenet(str(tmp_path / 'data' / 'imagenet'), num_val=4)
    source = tmp_path / 'published' / 'mpncovresnet50-128.pth'
    # a fast-MPN-COV training checkpoint of the 128-d variant (its own layout, converted here)
    written = write_published_checkpoint(str(tmp_path / 'published' / 'model_best.pth.tar'),
                                         'fast-mpncov', reduced_channels=128)
    os.replace(written['path'], source)
    work = tmp_path / 'work'

    # Without the variant's head options the checkpoint does not fit the 256-d config: refused
    # before any run, naming the file and the fix.
    refused = _benchmark(_experiment(tmp_path, repo_root, source, None), work, repo_root)
    assert refused.returncode != 0
    assert f'variants.gcp.checkpoint = {source}' in refused.stderr
    assert 'shape mismatches' in refused.stderr and "variant's cfg_options" in refused.stderr
    assert not (work / 'runs').exists()

    exp = _experiment(tmp_path, repo_root, source, HEAD_128)
    done = _benchmark(exp, tmp_path / 'work128', repo_root)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    folder = tmp_path / 'work128' / 'pretrained' / 'gcp'
    classifier = torch.load(folder / 'classifier.pth', weights_only=True)['state_dict']
    assert classifier['neck.reduction.conv.weight'].shape == (128, 2048, 1, 1)
    assert classifier['head.fc.weight'].shape == (1000, 8256)
    trunk = torch.load(folder / 'trunk.pth', weights_only=True)['state_dict']
    assert set(trunk) == {k for k in classifier if k.startswith('backbone.')}
    # the fixed checkpoint is evaluated once, whatever --seeds says, with its head options
    results = json.loads((tmp_path / 'work128' / 'results.json').read_text())
    assert [(r['variant'], r['task'], r['seed']) for r in results['runs']] == [
        ('gcp', 'imagenet', None)]
    assert results['runs'][0]['state'] == 'done'
    assert 0 <= results['runs'][0]['accuracy/top1'] <= 100
    log = (tmp_path / 'work128' / 'runs' / 'fixed' / 'gcp' / 'imagenet' / 'run.log').read_text()
    assert 'model.neck.reduced_channels=128' in log and 'model.head.in_channels=8256' in log
    assert f"tools/test.py {repo_root}/configs/pretrain/resnet50-gcp_8xb32_in1k.py" in log or \
        'tools/test.py configs/pretrain/resnet50-gcp_8xb32_in1k.py' in log  # a process per call
    assert 'in process' not in log

    # converted once: a second invocation neither converts nor evaluates again
    stamp = {name: os.stat(folder / name).st_mtime_ns for name in ('classifier.pth', 'trunk.pth')}
    again = _benchmark(exp, tmp_path / 'work128', repo_root)
    assert again.returncode == 0, again.stderr[-3000:]
    assert 'skipped (done before)' in again.stderr
    assert stamp == {name: os.stat(folder / name).st_mtime_ns
                     for name in ('classifier.pth', 'trunk.pth')}

    # a different file under the same name is noticed (content digest), not reused
    write_published_checkpoint(str(tmp_path / 'other.pth.tar'), 'fast-mpncov',
                               reduced_channels=128, seed=1)
    os.replace(tmp_path / 'other.pth.tar', source)
    changed = _benchmark(exp, tmp_path / 'work128', repo_root)
    assert changed.returncode != 0
    assert 'checkpoint_sha256' in changed.stderr and 'gcp/imagenet (done)' in changed.stderr
    assert osp.getsize(folder / 'classifier.pth') > 0


def test_a_crafted_checkpoint_is_refused_before_any_run(tmp_path, repo_root, crafted_checkpoint):
    write_imagenet(str(tmp_path / 'data' / 'imagenet'), num_val=1)
    crafted, marker = crafted_checkpoint('crafted.pth')
    work = tmp_path / 'work'
    refused = _benchmark(_experiment(tmp_path, repo_root, crafted, None), work, repo_root)
    assert refused.returncode != 0
    assert f'variants.gcp.checkpoint = {crafted}' in refused.stderr
    assert crafted_checkpoint.global_name in refused.stderr and '--trust-checkpoint' in \
        refused.stderr
    assert not marker.exists() and not (work / 'runs').exists()
