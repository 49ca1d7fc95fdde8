# Copyright (c) mmgcp contributors. All rights reserved.
import math

import pytest

from mmgcp.benchmark import expand_runs, load_experiment
from mmgcp.benchmark.report import markdown_table, result_rows, summarize


def _write(tmp_path, text):
    path = tmp_path / 'exp.py'
    path.write_text(text)
    return str(path)


VALID = """
pretrain = True
variants = dict(gap=dict(pretrain_config='a.py'), gcp=dict(pretrain_config='b.py'))
tasks = dict(det=dict(kind='det', config='det_{variant}.py', metrics=['coco/bbox_mAP']))
data_options = dict(det=dict(train_dataloader=dict(dataset=dict(data_root='{toy_root}/coco'))))
toy_data = dict(out_dir='/data/t')
"""


def test_runs_expand_in_order_with_seeds_and_options(tmp_path):
    exp = load_experiment(_write(tmp_path, VALID))
    runs = expand_runs(exp, '/w', seeds=[0, 1])
    assert [r.name for r in runs] == [
        'gap/pretrain/seed0', 'gap/det/seed0', 'gcp/pretrain/seed0', 'gcp/det/seed0',
        'gap/pretrain/seed1', 'gap/det/seed1', 'gcp/pretrain/seed1', 'gcp/det/seed1']
    det = runs[3]
    assert det.config == 'det_gcp.py' and det.work_dir == '/w/runs/seed0/gcp/det'
    assert 'train_dataloader.dataset.data_root=/data/t/coco' in det.cfg_options
    assert 'randomness.seed=0' in det.cfg_options
    assert det.checkpoint_option == 'model.backbone.init_cfg.checkpoint'


def test_unknown_keys_are_named(tmp_path):
    with pytest.raises(KeyError, match=r"unknown key\(s\) \['varaints'\]"):
        load_experiment(_write(tmp_path, VALID + "varaints = 1\n"))
    with pytest.raises(KeyError, match=r"\['metric'\] in tasks.det"):
        load_experiment(_write(tmp_path, VALID.replace("metrics=", "metric=")))
    with pytest.raises(ValueError, match=r"\{variant\}"):
        load_experiment(_write(tmp_path, VALID.replace("det_{variant}.py", "det.py")))
    with pytest.raises(FileNotFoundError, match='configs/benchmark'):
        load_experiment(str(tmp_path / 'missing.py'))


def test_summary_mean_std_and_failures(tmp_path):
    exp = load_experiment(_write(tmp_path, VALID))
    runs = [r for r in expand_runs(exp, '/w', seeds=[0, 1, 2]) if r.task == 'det']
    values = {'gap': [10.0, 12.0, 14.0], 'gcp': [20.0, 21.0, None]}
    statuses = []
    for run in runs:
        v = values[run.variant][run.seed]
        statuses.append(dict(state='done', metrics={'coco/bbox_mAP': v}) if v is not None
                        else dict(state='failed', error='Traceback\nRuntimeError: boom'))
    rows = result_rows(runs, statuses)
    summary = {(s['variant'], s['metric']): s for s in summarize(runs, rows)}
    gap = summary[('gap', 'coco/bbox_mAP')]
    assert gap['mean'] == pytest.approx(12.0) and gap['std'] == pytest.approx(2.0) and gap['n'] == 3
    gcp = summary[('gcp', 'coco/bbox_mAP')]
    assert gcp['n'] == 2 and gcp['std'] == pytest.approx(math.sqrt(0.5))
    assert gcp['failures'] == ['RuntimeError: boom']
    table = markdown_table(list(summary.values()))
    assert '| gap | 12.00 ± 2.00 (n=3) |' in table


SCRATCH = VALID.replace("variants = dict(", "variants = dict(scratch=dict(from_scratch=True, "
                        "arch='gap'), ")


def test_scratch_variant_runs_only_fine_tuning_with_gap_configs(tmp_path):
    exp = load_experiment(_write(tmp_path, SCRATCH))
    runs = [r for r in expand_runs(exp, '/w', seeds=[0]) if r.variant == 'scratch']
    assert [r.name for r in runs] == ['scratch/det/seed0']
    assert runs[0].config == 'det_gap.py' and runs[0].from_scratch
    assert 'model.backbone.init_cfg=None' in runs[0].cfg_options
    with pytest.raises(KeyError, match='arch'):
        load_experiment(_write(tmp_path, SCRATCH.replace("arch='gap'", "arch='gapp'")))



def test_variant_cfg_options_reach_only_that_variants_runs_of_the_task(tmp_path):
    """A variant's own cfg_options come after the experiment's (they win) and touch no other
    variant and no other task; a task name that is not in the experiment is an error."""
    text = (VALID.replace("gcp=dict(pretrain_config='b.py')",
                          "gcp=dict(pretrain_config='b.py', cfg_options=dict(det=dict("
                          "model=dict(backbone=dict(frozen_stages=-1)), optim_wrapper=dict("
                          "optimizer=dict(lr=0.5)))))")
            + "cfg_options = dict(det=dict(optim_wrapper=dict(optimizer=dict(lr=0.1))))\n")
    runs = {r.name: r for r in expand_runs(load_experiment(_write(tmp_path, text)), '/w', [0])}
    gcp, gap = runs['gcp/det/seed0'].cfg_options, runs['gap/det/seed0'].cfg_options
    assert 'model.backbone.frozen_stages=-1' in gcp and 'optim_wrapper.optimizer.lr=0.5' in gcp
    assert 'optim_wrapper.optimizer.lr=0.1' not in gcp
    assert 'optim_wrapper.optimizer.lr=0.1' in gap
    assert not any('frozen_stages' in o for o in gap)
    assert not any('frozen_stages' in o for o in runs['gcp/pretrain/seed0'].cfg_options)
    with pytest.raises(KeyError, match=r"variants.gcp.cfg_options.seg: no task 'seg'"):
        load_experiment(_write(tmp_path, text.replace('cfg_options=dict(det=',
                                                      'cfg_options=dict(seg=')))
    with pytest.raises(TypeError, match='must be a dict'):
        load_experiment(_write(tmp_path, VALID.replace(
            "gcp=dict(pretrain_config='b.py')", "gcp=dict(pretrain_config='b.py', "
            "cfg_options=dict(det='lr=0.5'))")))

@pytest.mark.parametrize('task', ['coco', 'ade20k'])
def test_scratch_trunk_is_randomly_initialised(task, repo_root, monkeypatch):
    """The toy preset's control builds its model with no checkpoint: the trunk's init_cfg is None,
    its weights are the library's random init (Kaiming-normal convs, unit BN) and differ between
    seeds, while the GAP run of the same task would load a checkpoint."""
    import argparse

    import torch
    from mmengine.config import Config, DictAction
    from mmengine.registry import init_default_scope

    import mmgcp  # noqa: F401
    monkeypatch.chdir(repo_root)
    exp = load_experiment('configs/benchmark/toy.py')
    runs = {(r.variant, r.task): r for r in expand_runs(exp, '/w', seeds=[0])}
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)

    def build(run, seed, extra=()):
        cfg = Config.fromfile(run.config)
        options = ['--cfg-options', *run.cfg_options, *extra]
        cfg.merge_from_dict(parser.parse_args(options).cfg_options)
        scope = 'mmdet' if run.kind == 'det' else 'mmseg'
        init_default_scope(scope)
        registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
        torch.manual_seed(seed)
        model = registry.build(cfg.model)
        return cfg, model

    scratch = runs[('scratch', task)]
    cfg, model = build(scratch, 0)
    assert cfg.model.backbone.init_cfg is None
    model.init_weights()
    conv = model.backbone.layer1[0].conv1.weight
    fan_out = conv.shape[0] * conv.shape[2] * conv.shape[3]
    assert conv.std().item() == pytest.approx((2.0 / fan_out)**0.5, rel=0.25)
    assert torch.equal(model.backbone.bn1.weight, torch.ones_like(model.backbone.bn1.weight))
    _, other = build(scratch, 1)
    other.init_weights()
    assert not torch.equal(other.backbone.layer1[0].conv1.weight, conv)
    # the pretrained twin's run does load a checkpoint (here: one that is not there)
    gap_run = runs[('gap', task)]
    _, gap = build(gap_run, 0, [f'{gap_run.checkpoint_option}=/nonexistent/trunk.pth'])
    with pytest.raises(FileNotFoundError, match='pretrained checkpoint'):
        gap.init_weights()


def _lr_per_epoch(cfg, epochs: int, iters_per_epoch: int, work_dir) -> list:
    """The lr at the last iteration of every epoch (every ``iters_per_epoch`` iterations), as an
    mmengine Runner applies the config's optimizer and schedulers to a one-parameter model."""
    import torch
    from mmengine.hooks import Hook
    from mmengine.model import BaseModel
    from mmengine.runner import Runner
    from torch.utils.data import DataLoader

    class OneParameter(BaseModel):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def forward(self, inputs, data_samples=None, mode='loss'):
            return dict(loss=((self.weight - 1)**2).sum())

    class LrAtEpochEnd(Hook):
        priority = 'LOWEST'  # after the iteration-based schedulers, before the epoch-based ones

        def __init__(self):
            self.lrs = []

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            if (runner.iter + 1) % iters_per_epoch == 0:
                self.lrs.append(runner.optim_wrapper.get_lr()['lr'][0])

    recorder = LrAtEpochEnd()
    epoch_based = cfg.train_cfg.get('type', 'EpochBasedTrainLoop') == 'EpochBasedTrainLoop' \
        and 'max_epochs' in cfg.train_cfg
    train_cfg = (dict(by_epoch=True, max_epochs=epochs, val_interval=10**6) if epoch_based else
                 dict(by_epoch=False, max_iters=epochs * iters_per_epoch, val_interval=10**6))
    loader = DataLoader(list(range(iters_per_epoch)), batch_size=1,
                        collate_fn=lambda batch: dict(inputs=batch))
    runner = Runner(model=OneParameter(), work_dir=str(work_dir), train_dataloader=loader,
                    train_cfg=train_cfg, optim_wrapper=cfg.optim_wrapper,
                    param_scheduler=cfg.param_scheduler, custom_hooks=[recorder],
                    default_hooks=dict(checkpoint=None, logger=None),
                    default_scope='mmengine')
    runner.train()
    return recorder.lrs


def test_toy_coco_runs_step_the_lr_twice_and_validate_the_last_two_epochs(repo_root,
                                                                           monkeypatch, tmp_path):
    """The toy preset's COCO fine-tuning: AdamW at lr 1e-3, x 0.1 after epochs 12 and 15 of 16
    (mmdet's 1x shape), validated after epochs 15 and 16 (the plateau check compares those two);
    a longer run set by --options moves the steps to its milestones and keeps them there."""
    import argparse

    from mmengine.config import Config, DictAction

    import mmgcp  # noqa: F401
    monkeypatch.chdir(repo_root)
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)

    def coco_cfg(overrides=None):
        exp = load_experiment('configs/benchmark/toy.py', overrides)
        run = next(r for r in expand_runs(exp, '/w', [0]) if r.name == 'scratch/coco/seed0')
        cfg = Config.fromfile(run.config)
        cfg.merge_from_dict(parser.parse_args(['--cfg-options', *run.cfg_options]).cfg_options)
        return cfg

    cfg = coco_cfg()
    assert cfg.optim_wrapper.optimizer.type == 'AdamW' and cfg.train_dataloader.batch_size == 2
    assert (cfg.train_cfg.max_epochs, cfg.train_cfg.val_begin, cfg.train_cfg.val_interval) == (
        16, 15, 1)
    lrs = _lr_per_epoch(cfg, 16, 32, tmp_path / 'a')
    assert lrs == [pytest.approx(1e-3)] * 12 + [pytest.approx(1e-4)] * 3 + [pytest.approx(1e-5)]
    longer = coco_cfg({'cfg_options.coco.train_cfg.max_epochs': 30,
                       'cfg_options.coco.param_scheduler.1.milestones': [24, 28]})
    lrs = _lr_per_epoch(longer, 30, 32, tmp_path / 'b')
    assert lrs == ([pytest.approx(1e-3)] * 24 + [pytest.approx(1e-4)] * 4
                   + [pytest.approx(1e-5)] * 2)


def test_toy_ade20k_validates_128_images_with_the_last_two_evaluations_on_the_lr_tail(
        repo_root, monkeypatch, tmp_path):
    """The toy preset's ADE20K fine-tuning: 288 iterations of SGD with the poly lr decaying to
    the end, validated every 80 iterations and at the end (80, 160, 240, 288) on 128 images, 8
    per batch; at iteration 240, where the plateau check's window starts, the lr is down to a
    fifth of its start."""
    import argparse

    from mmengine.config import Config, DictAction

    import mmgcp  # noqa: F401
    monkeypatch.chdir(repo_root)
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    exp = load_experiment('configs/benchmark/toy.py')
    assert exp.toy_data.ade20k.num_val == 128
    run = next(r for r in expand_runs(exp, '/w', [0]) if r.name == 'scratch/ade20k/seed0')
    cfg = Config.fromfile(run.config)
    cfg.merge_from_dict(parser.parse_args(['--cfg-options', *run.cfg_options]).cfg_options)
    assert (cfg.train_cfg.max_iters, cfg.train_cfg.val_interval) == (288, 80)
    assert cfg.train_cfg.get('val_begin', 1) <= 80
    assert cfg.val_dataloader.batch_size == cfg.test_dataloader.batch_size == 8
    lrs = _lr_per_epoch(cfg, 18, 16, tmp_path)  # the lr every 16 iterations
    start = cfg.optim_wrapper.optimizer.lr
    assert lrs[14] == pytest.approx(0.2 * start, rel=0.02)  # iteration 240
    assert lrs[17] < 0.01 * start
