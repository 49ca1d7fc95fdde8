# Copyright (c) mmgcp contributors. All rights reserved.
"""The benchmark plan: every run keeps its published recipe, inputs are checked before anything
starts, and launch options that cannot work are refused with a clear message."""
import copy
import json
import os.path as osp
import sys

import pytest

from mmgcp.benchmark import expand_runs, load_experiment
from mmgcp.benchmark.launchers import SequentialLauncher
from mmgcp.benchmark.plan import LaunchSettings, plan_runs, recipe_gpus

# The published recipes (OpenMMLab model zoos): GPUs x images per GPU and the lr at that batch.
RECIPES = {
    'coco': (8, 2, 0.02),              # mmdet Mask R-CNN R-50 FPN 1x
    'coco_d2': (8, 2, 0.02),
    'coco_s1': (8, 2, 0.02),
    'coco_faster_rcnn': (8, 2, 0.02),  # mmdet Faster R-CNN R-50 FPN 1x
    'ade20k': (4, 4, 0.01),            # mmseg UperNet R-50 4xb4 160k
}
CONFIG_ENDS = {'coco': '-{v}_fpn_1x_coco.py', 'coco_d2': '-{v}-d2_fpn_1x_coco.py',
               'coco_s1': '-{v}-s1_fpn_1x_coco.py', 'coco_faster_rcnn': '-{v}_fpn_1x_coco.py',
               'ade20k': '-{v}_4xb4-160k_ade20k-512x512.py'}


@pytest.fixture(scope='module')
def paper(repo_root):
    return load_experiment(osp.join(repo_root, 'configs/benchmark/paper.py'))


def _plan(exp, work_dir, seeds, settings, repo_root):
    runs = expand_runs(exp, str(work_dir), seeds)
    missing, errors = plan_runs(exp, runs, settings, repo_root)
    return {run.name: run for run in runs}, missing, errors


def test_recipe_gpus_from_openmmlab_names():
    assert recipe_gpus('configs/pretrain/resnet50-gcp_8xb32_in1k.py', 'cls')[0] == 8
    assert recipe_gpus('upernet_r50-gcp_4xb4-160k_ade20k-512x512.py', 'seg')[0] == 4
    assert recipe_gpus('mask-rcnn_r50-gcp_fpn_1x_coco.py', 'det')[0] == 8  # mmdet's default
    with pytest.raises(ValueError, match='OpenMMLab way'):
        recipe_gpus('my_segmenter.py', 'seg')


def test_paper_dry_run_keeps_every_recipe_and_lists_missing_inputs(tmp_path, tool_runner):
    work = tmp_path / 'paper'
    proc = tool_runner(['tools/benchmark_transfer.py', 'configs/benchmark/paper.py', '--dry-run',
                        '--launcher', 'slurm', '--gpus', '8', '--seeds', '3',
                        '--work-dir', str(work)],
                       check=False, env={'SLURM_CONF': '/nonexistent/slurm.conf'})
    assert proc.returncode != 0, 'checkpoints and data are missing here: the dry run must fail'
    plan = json.loads((work / 'plan.json').read_text())
    runs = {r['name']: r for r in plan['runs']}
    # One ImageNet evaluation per published checkpoint (it cannot change with a seed), and every
    # fine-tuning task per seed.
    evaluations = [n for n in runs if n.split('/')[1] == 'imagenet']
    assert sorted(evaluations) == ['dropcov/imagenet', 'gap/imagenet', 'gcp/imagenet']
    assert len(runs) == 3 + 3 * 5 * 3
    for name, run in runs.items():
        variant, task = name.split('/')[:2]
        recipe = run['recipe']
        assert run['depends_on'] == [] and recipe['auto_scale_lr'] is False
        if task == 'imagenet':
            assert run['seed'] is None and run['varies'] == []
            assert run['evaluate_only'] and run['train_command'] == [] and recipe['gpus'] == 8
            continue
        assert run['varies'] == ['finetune_seed']
        gpus, per_gpu, lr = RECIPES[task]
        assert (recipe['gpus'], recipe['samples_per_gpu']) == (gpus, per_gpu), name
        assert recipe['total_batch_size'] == gpus * per_gpu == 16
        assert recipe['lr'] == pytest.approx(lr), name
        assert run['config'].endswith(CONFIG_ENDS[task].format(v=variant)), name
        # one Slurm job per run with the recipe's tasks and GPUs; the tools run with
        # --launcher slurm inside it
        sbatch = run['sbatch']
        assert f'--ntasks-per-node={gpus}' in sbatch and f'--gpus-per-node={gpus}' in sbatch
        assert '--requeue' in sbatch and '--signal=USR2@120' in sbatch
        for cmd in (run['train_command'], run['test_command']):
            assert cmd[cmd.index('--launcher') + 1] == 'slurm'
    # every missing input at once, each with how to get it; the checkpoint names are the ones
    # the conversion step writes
    missing = {m['path']: m for m in plan['missing']}
    for variant in ('gap', 'gcp', 'dropcov'):
        ckpt = missing[f'checkpoints/resnet50-{variant}_8xb32_in1k.pth']
        assert len(ckpt['needed_by']) == 1 + 5 * 3 and 'gcp2mmpretrain' in ckpt['how']
    assert any('instances_val2017.json' in p and 'cocodataset.org' in m['how']
               for p, m in missing.items())
    assert any(p.startswith('data/ade') and 'ADEChallengeData2016' in m['how']
               for p, m in missing.items())
    assert any(p.startswith('data/imagenet') for p in missing)
    assert 'checkpoints/resnet50-gcp_8xb32_in1k.pth' in proc.stdout
    assert 'nothing started' in proc.stderr
    # quiet: no third-party deprecation warning repeated per parsed config
    assert 'pkg_resources is deprecated' not in proc.stderr


def test_data_root_moves_every_task(paper, tmp_path, repo_root):
    paper = copy.deepcopy(paper)
    paper.data_root = str(tmp_path / 'elsewhere')
    runs, missing, _ = _plan(paper, tmp_path / 'w', [0], LaunchSettings('slurm', gpus=8),
                             repo_root)
    paths = [m['path'] for m in missing if not m['path'].startswith('checkpoints/')]
    assert paths and all(p.startswith(str(tmp_path / 'elsewhere')) for p in paths), paths
    options = runs['gcp/coco/seed0'].cfg_options
    assert f"test_evaluator.ann_file={tmp_path}/elsewhere/coco/annotations/" \
        'instances_val2017.json' in options


def test_fewer_gpus_fail_unless_lr_is_auto_scaled(paper, tmp_path, repo_root):
    _, _, errors = _plan(paper, tmp_path, [0], LaunchSettings('pytorch', gpus=4), repo_root)
    assert any('coco/seed0: its recipe is for 8 GPUs, 4 are available' in e for e in errors)
    assert not any('/ade20k/' in e for e in errors)  # UperNet's 4 GPUs fit
    settings = LaunchSettings('pytorch', gpus=4, auto_scale_lr=True)
    runs, _, errors = _plan(paper, tmp_path, [0], settings, repo_root)
    assert errors == []
    mask = runs['gcp/coco/seed0']
    assert (mask.recipe.gpus, mask.recipe.total_batch_size, mask.recipe.auto_scale_lr) == (
        4, 8, True)
    assert mask.recipe.lr == pytest.approx(0.01)
    train = SequentialLauncher(repo_root, 'pytorch').commands(mask)['train_command']
    assert 'auto_scale_lr.base_batch_size=16' in train
    assert train[:4] == ['bash', 'tools/dist_train.sh', mask.config, '4']
    assert runs['gcp/ade20k/seed0'].recipe.auto_scale_lr is False
    assert runs['gcp/ade20k/seed0'].recipe.lr == pytest.approx(0.01)
    # Slurm spans nodes instead: 8 GPUs of Mask R-CNN on two 4-GPU nodes, recipe kept.
    runs, _, _ = _plan(paper, tmp_path, [0], LaunchSettings('slurm', gpus=4), repo_root)
    recipe = runs['gcp/coco/seed0'].recipe
    assert (recipe.gpus, recipe.nodes, recipe.gpus_per_node, recipe.lr) == (8, 2, 4, 0.02)
    # CPU processes (the rehearsal): --gpus caps the processes of a run
    settings = LaunchSettings('slurm', gpus=1, device='cpu', auto_scale_lr=True)
    runs, _, errors = _plan(paper, tmp_path, [0], settings, repo_root)
    recipe = runs['gcp/ade20k/seed0'].recipe
    assert errors == [] and (recipe.gpus, recipe.total_batch_size) == (1, 4)
    assert recipe.lr == pytest.approx(0.01 / 4) and recipe.auto_scale_lr


def test_bad_launch_options_are_refused(paper, tmp_path, repo_root, tool_runner):
    _, _, errors = _plan(paper, tmp_path, [0], LaunchSettings('slurm', gpus=0), repo_root)
    assert any('--gpus 0' in e and 'recipe is for 8 GPU' in e for e in errors)
    with pytest.raises(ValueError, match='only apply to --launcher slurm'):
        LaunchSettings('pytorch', partition='gpu')
    with pytest.raises(ValueError, match='unknown launcher'):
        LaunchSettings('mpi')
    with pytest.raises(ValueError, match='needs --gpus'):
        LaunchSettings('slurm').gpus_here()
    with pytest.raises(ValueError, match="is not a Slurm time"):
        LaunchSettings('slurm', time='2 days')
    with pytest.raises(ValueError, match='--slurm-gpu-request'):
        LaunchSettings('slurm', gpu_request='gpus')
    proc = tool_runner(['tools/benchmark_transfer.py', 'configs/benchmark/paper.py',
                        '--sbatch-args=--time=1:00', '--work-dir', str(tmp_path / 'w')],
                       check=False)
    assert proc.returncode != 0 and '--sbatch-args only apply to --launcher slurm' in proc.stderr


def test_gres_form_of_the_gpu_request(paper, tmp_path, repo_root):
    from mmgcp.benchmark.launchers.slurm import SlurmLauncher
    settings = LaunchSettings('slurm', gpus=8, gpu_request='gres', time='2-00:00:00')
    runs, _, _ = _plan(paper, tmp_path, [0], settings, repo_root)
    sbatch = SlurmLauncher(settings, repo_root).commands(runs['gcp/ade20k/seed0'])['sbatch']
    assert '--gres=gpu:4' in sbatch and not any(f.startswith('--gpus') for f in sbatch)
    assert '--time=2-00:00:00' in sbatch


def test_toy_plan_has_no_missing_input_and_orders_fine_tuning(repo_root, tmp_path):
    toy = load_experiment(osp.join(repo_root, 'configs/benchmark/toy.py'))
    runs, missing, errors = _plan(toy, tmp_path, [0], LaunchSettings('none', device=toy.device),
                                  repo_root)
    assert missing == [] and errors == []  # toy data is generated first
    fine = runs['gcp/coco/seed0']
    assert fine.depends_on == ['gcp/pretrain/seed0']
    assert fine.varies == ['pretrain_seed', 'finetune_seed']
    assert runs['gcp/pretrain/seed0'].recipe.gpus == 1
    assert runs['scratch/coco/seed0'].varies == ['finetune_seed']
    commands = SequentialLauncher(repo_root, 'none').commands(fine)
    assert commands['train_command'][:2] == [sys.executable, 'tools/train.py']
    trunk = f'model.backbone.init_cfg.checkpoint={tmp_path}/runs/seed0/gcp/pretrain/trunk.pth'
    assert trunk in commands['train_command']
