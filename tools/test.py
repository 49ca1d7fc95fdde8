# Copyright (c) mmgcp contributors. All rights reserved.
"""Evaluate a checkpoint with a config of mmpretrain, mmdet, mmsegmentation or mmgcp."""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import mmgcp  # noqa: F401  registers mmgcp and fixes local checkpoint loading on torch >= 2.6
from mmgcp.utils import (
    add_trust_checkpoint_argument,
    check_checkpoint_covers_model,
    check_checkpoint_trusted,
    check_data,
    exit_on_untrusted_checkpoint,
    setup_cpu_distributed,
)
from mmgcp.utils.kill_point import kill_point


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir', help='the directory to save the file containing evaluation metrics')
    parser.add_argument(
        '--out', help='dump the evaluation results (metrics) to this JSON/pickle file')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs')
    parser.add_argument(
        '--allow-partial', action='store_true',
        help='evaluate even when the checkpoint lacks some of the model\'s weights or has others '
        '(by default that is an error: the missing weights would stay random)')
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


def main():
    args = parse_args()
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(
            f'checkpoint {args.checkpoint} does not exist; pass the .pth written by '
            'tools/train.py (e.g. work_dirs/<config>/epoch_N.pth) or a converted checkpoint.')
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    check_checkpoint_trusted(args.checkpoint)  # before the Runner is built
    check_data(cfg, ('test', ), config=args.config)
    setup_cpu_distributed(cfg, args.launcher)

    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    check_checkpoint_covers_model(runner.model, args.checkpoint, args.allow_partial, args.config)
    kill_point('evaluation', args.checkpoint)
    metrics = runner.test()
    if args.out is not None and runner.rank == 0:
        from mmengine.fileio import dump
        dump({k: float(v) if hasattr(v, '__float__') else v for k, v in metrics.items()}, args.out)
    return metrics


if __name__ == '__main__':
    with exit_on_untrusted_checkpoint():
        main()
