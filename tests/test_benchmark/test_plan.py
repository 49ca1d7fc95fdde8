# Copyright (c) mmgcp contributors. All rights reserved.
"""The benchmark plan: every run keeps its published recipe, inputs are checked before anything
starts, and launch options that cannot work are refused with a clear message."""
import json
import os.path as osp
import sys
import time

import pytest

from mmgcp.benchmark import load_experiment
from mmgcp.benchmark.plan import LaunchSettings, build_plan, recipe_gpus

# The published recipes (OpenMMLab model zoos): GPUs x images per GPU and the lr at that batch.
RECIPES = {
    'coco': (8, 2, 0.02),              # mmdet Mask R-CNN R-50 FPN 1x
    'coco_faster_rcnn': (8, 2, 0.02),  # mmdet Faster R-CNN R-50 FPN 1x
    'ade20k': (4, 4, 0.01),            # mmseg UperNet R-50 4xb4 160k
}


@pytest.fixture(scope='module')
def paper(repo_root):
    return load_experiment(osp.join(repo_root, 'configs/benchmark/paper.py'))


def test_recipe_gpus_from_openmmlab_names():
    assert recipe_gpus('configs/pretrain/resnet50-gcp_8xb32_in1k.py', 'cls')[0] == 8
    assert recipe_gpus('upernet_r50-gcp_4xb4-160k_ade20k-512x512.py', 'seg')[0] == 4
    assert recipe_gpus('mask-rcnn_r50-gcp_fpn_1x_coco.py', 'det')[0] == 8  # mmdet's default
    with pytest.raises(ValueError, match='OpenMMLab way'):
        recipe_gpus('my_segmenter.py', 'seg')


def test_paper_dry_run_keeps_every_recipe_and_lists_missing_inputs(tmp_path, repo_root,
                                                                   tool_runner):
    work = tmp_path / 'paper'
    start = time.time()
    proc = tool_runner(['tools/benchmark_transfer.py', 'configs/benchmark/paper.py', '--dry-run',
                        '--launcher', 'slurm', '--gpus', '8', '--seeds', '1',
                        '--work-dir', str(work)],
                       check=False, env={'SLURM_CONF': '/nonexistent/slurm.conf'})
    took = time.time() - start
    assert proc.returncode != 0, 'checkpoints and data are missing here: the dry run must fail'
    plan = json.loads((work / 'plan.json').read_text())
    runs = {r['name']: r for r in plan['runs']}
    assert len(runs) == 3 * 4  # 3 pretrainings x (ImageNet, Mask R-CNN, Faster R-CNN, UperNet)
    for name, run in runs.items():
        variant, task, _ = name.split('/')
        assert run['depends_on'] == []
        assert run['auto_scale_lr'] is False
        if task == 'imagenet':
            assert run['evaluate_only'] and run['train_command'] == [] and run['gpus'] == 8
            continue
        gpus, per_gpu, lr = RECIPES[task]
        assert (run['gpus'], run['samples_per_gpu']) == (gpus, per_gpu), name
        assert run['total_batch_size'] == gpus * per_gpu == 16
        assert run['lr'] == pytest.approx(lr), name
        assert run['config'].endswith(f'-{variant}_fpn_1x_coco.py' if 'coco' in task else
                                      f'-{variant}_4xb4-160k_ade20k-512x512.py')
        for cmd in (run['train_command'], run['test_command']):  # both distributed under srun
            assert cmd[0] == 'srun' and f'--ntasks={gpus}' in cmd, cmd
            assert cmd[cmd.index('--launcher') + 1] == 'slurm'
    # every missing input at once, each with how to get it
    missing = {m['path']: m for m in plan['missing']}
    for variant in ('gap', 'gcp', 'dropcov'):
        ckpt = missing[f'checkpoints/resnet50-{variant}_in1k.pth']
        assert len(ckpt['needed_by']) == 4 and 'gcp2mmpretrain' in ckpt['how']
    assert any('instances_val2017.json' in p and 'cocodataset.org' in m['how']
               for p, m in missing.items())
    assert any(p.startswith('data/ade') and 'ADEChallengeData2016' in m['how']
               for p, m in missing.items())
    assert any(p.startswith('data/imagenet') for p in missing)
    assert 'checkpoints/resnet50-gcp_in1k.pth' in proc.stdout
    assert 'nothing started' in proc.stderr
    print(f'paper dry run: {took:.1f} s')


def test_fewer_gpus_fail_unless_lr_is_auto_scaled(paper, tmp_path, repo_root):
    with_4 = build_plan(paper, str(tmp_path), [0], LaunchSettings('pytorch', gpus=4), repo_root)
    assert any('coco/seed0: its recipe is for 8 GPUs, 4 are available' in e
               for e in with_4['errors'])
    assert not any('ade20k' in e for e in with_4['errors'])  # UperNet's 4 GPUs fit
    scaled = build_plan(paper, str(tmp_path), [0],
                        LaunchSettings('pytorch', gpus=4, auto_scale_lr=True), repo_root)
    assert scaled['errors'] == []
    runs = {r['name']: r for r in scaled['runs']}
    mask = runs['gcp/coco/seed0']
    assert (mask['gpus'], mask['total_batch_size'], mask['auto_scale_lr']) == (4, 8, True)
    assert mask['lr'] == pytest.approx(0.01)
    assert 'auto_scale_lr.base_batch_size=16' in mask['train_command']
    assert mask['train_command'][:4] == ['bash', 'tools/dist_train.sh', mask['config'], '4']
    assert runs['gcp/ade20k/seed0']['auto_scale_lr'] is False
    assert runs['gcp/ade20k/seed0']['lr'] == pytest.approx(0.01)
    # Slurm spans nodes instead: 8 GPUs of Mask R-CNN on two 4-GPU nodes, recipe kept.
    slurm = build_plan(paper, str(tmp_path), [0], LaunchSettings('slurm', gpus=4), repo_root)
    mask = {r['name']: r for r in slurm['runs']}['gcp/coco/seed0']
    assert (mask['gpus'], mask['nodes'], mask['gpus_per_node'], mask['lr']) == (8, 2, 4, 0.02)


def test_bad_launch_options_are_refused(paper, tmp_path, repo_root, tool_runner):
    no_gpu = build_plan(paper, str(tmp_path), [0], LaunchSettings('slurm', gpus=0), repo_root)
    assert any('--gpus 0' in e and 'recipe is for 8 GPU' in e for e in no_gpu['errors'])
    with pytest.raises(ValueError, match='only apply to --launcher slurm'):
        LaunchSettings('pytorch', partition='gpu')
    with pytest.raises(ValueError, match='unknown launcher'):
        LaunchSettings('mpi')
    with pytest.raises(ValueError, match='needs --gpus'):
        LaunchSettings('slurm').gpus_here()
    proc = tool_runner(['tools/benchmark_transfer.py', 'configs/benchmark/paper.py',
                        '--sbatch-args=--time=1:00', '--work-dir', str(tmp_path / 'w')],
                       check=False)
    assert proc.returncode != 0 and '--sbatch-args only apply to --launcher slurm' in proc.stderr


def test_toy_plan_has_no_missing_input_and_orders_fine_tuning(repo_root, tmp_path):
    toy = load_experiment(osp.join(repo_root, 'configs/benchmark/toy.py'))
    plan = build_plan(toy, str(tmp_path), [0], LaunchSettings('none', device=toy.device),
                      repo_root, sys.executable)
    assert plan['missing'] == [] and plan['errors'] == []  # toy data is generated first
    runs = {r['name']: r for r in plan['runs']}
    assert runs['gcp/coco/seed0']['depends_on'] == ['gcp/pretrain/seed0']
    assert runs['gcp/pretrain/seed0']['gpus'] == 1
    assert runs['gcp/pretrain/seed0']['train_command'][:2] == [sys.executable, 'tools/train.py']
    trunk = f"model.backbone.init_cfg.checkpoint={tmp_path}/runs/seed0/gcp/pretrained_backbone.pth"
    assert trunk in runs['gcp/coco/seed0']['train_command']
