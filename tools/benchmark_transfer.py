# Copyright (c) mmgcp contributors. All rights reserved.
"""Cross-task transfer benchmark: one command from pretraining to the comparison table.

    python tools/benchmark_transfer.py                         # toy preset, 3 seeds, 2 CPU cores
    python tools/benchmark_transfer.py configs/benchmark/paper.py --launcher pytorch --gpus 8
    python tools/benchmark_transfer.py --seeds 5               # 5 seeds instead of 3

Writes results.json, results.csv, results.md (the table and the paired comparisons),
metrics.png and val_curves.png to --work-dir.
Finished runs are skipped on a second invocation; an interrupted run resumes from its last
checkpoint; a failing run is reported in the table and does not stop the others.
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import DictAction

import mmgcp  # noqa: F401
from mmgcp.benchmark import ToolLauncher, load_experiment, run_benchmark

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def parse_args():
    parser = argparse.ArgumentParser(description='Run the cross-task transfer benchmark')
    parser.add_argument('experiment', nargs='?', default='configs/benchmark/toy.py',
                        help='experiment config (default: the toy preset)')
    parser.add_argument('--work-dir', help='output folder (default: work_dirs/benchmark_<name>)')
    parser.add_argument('--seeds', type=int, default=3,
                        help='repeat every run with seeds 0..N-1 (default 3); variants are '
                        'compared seed by seed')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none',
                        help='how each run is launched: one process, torchrun '
                        '(tools/dist_train.sh) or slurm (tools/slurm_train.sh)')
    parser.add_argument('--gpus', type=int, default=1, help='processes per run (pytorch)')
    parser.add_argument('--slurm-partition', help='slurm partition (launcher slurm)')
    parser.add_argument('--workers', type=int,
                        help='launcher none: runs executed at once, each in a worker process '
                        'that runs tools/train.py and tools/test.py in process (default: 2 on '
                        'a machine with 2 or more cores, else 1); 0: one process per tool call, '
                        'one run after the other')
    parser.add_argument('--profile', action='store_true',
                        help='record CPU and wall time per stage of every run in its status '
                        '(see tools/analysis/time_main.py)')
    parser.add_argument('--no-retry-failed', action='store_true',
                        help='keep runs that failed before as failed instead of retrying them')
    parser.add_argument('--options', nargs='+', action=DictAction,
                        help='override experiment settings, e.g. toy_data.cls.img_size=32')
    return parser.parse_args()


def main():
    args = parse_args()
    exp = load_experiment(args.experiment, args.options)
    name = osp.splitext(osp.basename(args.experiment))[0]
    work_dir = args.work_dir or osp.join('work_dirs', f'benchmark_{name}')
    if args.seeds < 1:
        sys.exit('--seeds must be >= 1')
    workers = args.workers
    if workers is None:
        workers = min(2, os.cpu_count() or 1) if args.launcher == 'none' else 0
    if workers and args.launcher != 'none':
        sys.exit('--workers needs --launcher none (the distributed launchers start their own '
                 'processes); drop --workers or use --launcher none.')
    if workers < 0:
        sys.exit('--workers must be >= 0')
    tools = ToolLauncher(REPO_ROOT, args.launcher, args.gpus, args.slurm_partition)
    out = run_benchmark(exp, work_dir, list(range(args.seeds)), tools,
                        retry_failed=not args.no_retry_failed, workers=workers,
                        profile=args.profile)
    print(f'\nCross-task transfer ({exp.get("preset", name)}, seeds={args.seeds})\n')
    print(out['table'])
    if out['comparisons']:
        print('\nPaired comparisons (variant - baseline, per seed; 95% CI, paired t-test)\n')
        print(out['comparison_table'])
    print(f"\nresults: {out['json']}, {out['csv']}, {out['md']}")
    for path in out['plots'] + out.get('robustness', []):
        print(f'output:  {path}')


if __name__ == '__main__':
    main()
