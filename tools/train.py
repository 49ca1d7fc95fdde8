# Copyright (c) mmgcp contributors. All rights reserved.
"""Train a model from a config of mmpretrain, mmdet, mmsegmentation or mmgcp.

The config's ``default_scope`` says which library's registries build it; mmgcp modules are reached
as ``type='mmgcp.Name'`` from any of them.
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import mmgcp  # noqa: F401  registers mmgcp and fixes local checkpoint loading on torch >= 2.6
from mmgcp.utils import (
    add_trust_checkpoint_argument,
    apply_tensorboard_key,
    check_config_checkpoints_trusted,
    check_data,
    check_space_for_checkpoint,
    exit_on_no_space,
    exit_on_untrusted_checkpoint,
    resolve_resume,
    setup_cpu_distributed,
    use_atomic_checkpoints,
)


def parse_args():
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or, without a value, from the latest checkpoint '
        'in the work dir')
    parser.add_argument(
        '--amp', action='store_true', help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--tensorboard',
        action='store_true',
        help='also log to TensorBoard (event files next to vis_data/scalars.json); '
        'same as `tensorboard = True` in the config')
    parser.add_argument(
        '--no-validate', action='store_true', help='do not evaluate during training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by the actual batch size over the config\'s base batch size')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs such as '
        'train_cfg.max_epochs=2 or model.backbone.depth=18')
    add_trust_checkpoint_argument(parser)
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Merge the command-line arguments into the config."""
    # --cfg-options first, so that flags such as --no-validate win over them.
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None

    cfg.launcher = args.launcher
    # work_dir priority: CLI > config > ./work_dirs/<config name>
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])

    apply_tensorboard_key(cfg, force=args.tensorboard)

    if args.amp:
        from mmgcp.engine import enable_amp
        enable_amp(cfg)

    # The newest complete checkpoint of the work dir (not only the one mmengine's marker names),
    # skipping a truncated one; checkpoints are written atomically.
    resolve_resume(cfg, args.resume)
    use_atomic_checkpoints(cfg)

    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg:
            raise ValueError(
                '--auto-scale-lr needs `auto_scale_lr = dict(base_batch_size=...)` in the config.')
        cfg.auto_scale_lr.enable = True
    # GCP modules check for NaN/Inf on the device; the hook reports it after each iteration.
    # A time-limit or preemption signal (SIGUSR2, SIGTERM) saves a checkpoint and stops; the
    # first batch's shape (the input size really trained at) goes to the log.
    from mmgcp.engine import add_hook_once, add_nonfinite_check_hook
    add_nonfinite_check_hook(cfg)
    add_hook_once(cfg, 'mmgcp.SignalCheckpointHook')
    add_hook_once(cfg, 'mmgcp.BatchShapeHook')
    return cfg


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    cfg = merge_args(cfg, args)
    check_config_checkpoints_trusted(cfg)
    check_data(cfg, ('train', 'val'), config=args.config)
    setup_cpu_distributed(cfg, args.launcher)

    # A full filesystem: which file, how much space, the intact previous checkpoint, --resume.
    # A time-limit or preemption signal: a checkpoint where training was, then exit 75.
    from mmgcp.engine import INTERRUPTED_EXIT_CODE, TrainingInterrupted
    with exit_on_no_space(cfg.work_dir):
        if 'runner_type' not in cfg:
            runner = Runner.from_cfg(cfg)
        else:
            runner = RUNNERS.build(cfg)
        if runner.rank == 0:  # the rank that writes the checkpoints
            check_space_for_checkpoint(runner.model, cfg)
        try:
            runner.train()
        except TrainingInterrupted as stop:
            print(f'{stop}', flush=True)
            raise SystemExit(INTERRUPTED_EXIT_CODE)


if __name__ == '__main__':
    with exit_on_untrusted_checkpoint():
        main()
