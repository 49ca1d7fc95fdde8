# Copyright (c) mmgcp contributors. All rights reserved.
"""Cross-task transfer benchmark: one command from pretraining to the comparison table.

    python tools/benchmark_transfer.py                         # toy preset, 2 CPU cores, ~10 min
    python tools/benchmark_transfer.py configs/benchmark/paper.py --launcher pytorch --gpus 8
    python tools/benchmark_transfer.py --seeds 3               # mean ± std over 3 seeds

Writes results.json, results.csv, results.md, metrics.png and val_curves.png to --work-dir.
Finished runs are skipped on a second invocation; an interrupted run resumes from its last
checkpoint; a failing run is reported in the table and does not stop the others.
"""
import argparse
import os.path as osp
import sys

from mmengine.config import DictAction

import mmgcp  # noqa: F401
from mmgcp.benchmark import ToolLauncher, load_experiment, run_benchmark
from mmgcp.utils import enable_benchmark_tensorboard

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def parse_args():
    parser = argparse.ArgumentParser(description='Run the cross-task transfer benchmark')
    parser.add_argument('experiment', nargs='?', default='configs/benchmark/toy.py',
                        help='experiment config (default: the toy preset)')
    parser.add_argument('--work-dir', help='output folder (default: work_dirs/benchmark_<name>)')
    parser.add_argument('--seeds', type=int, default=1, help='repeat every run with N seeds')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none',
                        help='how each run is launched: one process, torchrun '
                        '(tools/dist_train.sh) or slurm (tools/slurm_train.sh)')
    parser.add_argument('--gpus', type=int, default=1, help='processes per run (pytorch)')
    parser.add_argument('--slurm-partition', help='slurm partition (launcher slurm)')
    parser.add_argument('--no-retry-failed', action='store_true',
                        help='keep runs that failed before as failed instead of retrying them')
    parser.add_argument('--tensorboard', action='store_true',
                        help='every run also writes TensorBoard event files (in its vis_data/)')
    parser.add_argument('--options', nargs='+', action=DictAction,
                        help='override experiment settings, e.g. toy_data.cls.img_size=32')
    return parser.parse_args()


def main():
    args = parse_args()
    exp = load_experiment(args.experiment, args.options)
    if args.tensorboard:
        enable_benchmark_tensorboard(exp)
    name = osp.splitext(osp.basename(args.experiment))[0]
    work_dir = args.work_dir or osp.join('work_dirs', f'benchmark_{name}')
    if args.seeds < 1:
        sys.exit('--seeds must be >= 1')
    tools = ToolLauncher(REPO_ROOT, args.launcher, args.gpus, args.slurm_partition)
    out = run_benchmark(exp, work_dir, list(range(args.seeds)), tools,
                        retry_failed=not args.no_retry_failed)
    print(f'\nCross-task transfer ({exp.get("preset", name)}, seeds={args.seeds})\n')
    print(out['table'])
    print(f"\nresults: {out['json']}, {out['csv']}, {out['md']}")
    for path in out['plots'] + out.get('robustness', []):
        print(f'output:  {path}')


if __name__ == '__main__':
    main()
