# Copyright (c) mmgcp contributors. All rights reserved.
"""Cross-task transfer benchmark: one command from pretraining to the comparison table.

    python tools/benchmark_transfer.py                         # toy preset, 3 seeds, 2 CPU cores
    python tools/benchmark_transfer.py configs/benchmark/paper.py --launcher pytorch --gpus 8
    python tools/benchmark_transfer.py --seeds 5               # 5 seeds instead of 3
    python tools/benchmark_transfer.py configs/benchmark/paper.py --launcher slurm --gpus 8

Every run keeps its recipe (GPUs from its config name, images per GPU from its config); the plan
(plan.json, printed) and the check that every input exists come first, and nothing starts while
one is missing (--dry-run: only that). Writes results.json, results.csv, results.md (the table
and the paired comparisons), metrics.png and val_curves.png to --work-dir.
Finished runs are skipped on a second invocation; an interrupted run resumes from its last
checkpoint; a failing run is reported in the table and does not stop the others.
"""
import argparse
import os
import os.path as osp
import shlex
import sys

from mmengine.config import DictAction

import mmgcp  # noqa: F401
from mmgcp.benchmark import check_toy_data, load_experiment, run_benchmark
from mmgcp.benchmark.launchers import RecipeLauncher
from mmgcp.benchmark.plan import LaunchSettings, annotate_results, plan_benchmark
from mmgcp.utils import enable_benchmark_tensorboard

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
                        help='how each run is launched: one process, torchrun with the run\'s '
                        'world size (tools/dist_train.sh, dist_test.sh), or one sbatch job per '
                        'run with srun inside')
    parser.add_argument('--gpus', type=int, default=None,
                        help='GPUs per node (slurm) or on this machine (default: the GPUs torch '
                        'sees); each run still uses the GPU count of its recipe')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='let a run whose recipe needs more GPUs than there are train on '
                        'fewer with a linearly scaled lr (recorded in plan.json and the report)')
    parser.add_argument('--dry-run', action='store_true',
                        help='write plan.json and print the plan and every missing input; '
                        'start nothing')
    parser.add_argument('--slurm-partition', help='slurm partition (default: the cluster\'s)')
    parser.add_argument('--cpus-per-task', type=int,
                        help='CPUs per process (default 1 for CPU recipes, 5 for GPU ones)')
    parser.add_argument('--sbatch-args', default='',
                        help='extra sbatch arguments, one string, e.g. "--time=2-00:00:00 -A lab"')
    parser.add_argument('--srun-args', default='', help='extra srun arguments, one string')
    parser.add_argument('--wait', action='store_true',
                        help='slurm: wait until every job has ended, then report')
    parser.add_argument('--poll-interval', type=float, default=10.0,
                        help='slurm --wait: seconds between scontrol polls')
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
    parser.add_argument('--tensorboard', action='store_true',
                        help='every run also writes TensorBoard event files (in its vis_data/)')
    parser.add_argument('--options', nargs='+', action=DictAction,
                        help='override experiment settings, e.g. toy_data.cls.img_size=32')
    return parser.parse_args()


def main():
    args = parse_args()
    exp = load_experiment(args.experiment, args.options)
    try:  # before anything is planned, generated or trained
        check_toy_data(exp.get('toy_data'))
    except FileExistsError as err:
        sys.exit(f'error: {err}')
    if args.tensorboard:
        enable_benchmark_tensorboard(exp)
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
    try:
        settings = LaunchSettings(
            launcher=args.launcher, gpus=args.gpus, device=exp.get('device', 'cuda'),
            auto_scale_lr=args.auto_scale_lr, partition=args.slurm_partition,
            cpus_per_task=args.cpus_per_task, sbatch_args=shlex.split(args.sbatch_args),
            srun_args=shlex.split(args.srun_args))
    except ValueError as err:
        sys.exit(f'error: {err}')
    if args.launcher == 'slurm':  # jobs run from the repository root
        work_dir = osp.abspath(work_dir)
        from mmgcp.benchmark.slurm import SlurmError, check_partition, slurm_unavailable
        unreachable = slurm_unavailable()
        if unreachable and args.dry_run:
            print(f'(partition not checked: {unreachable})')
        else:
            try:
                check_partition(args.slurm_partition)
            except SlurmError as err:
                sys.exit(f'error: {err}')
    seeds = list(range(args.seeds))
    try:
        plan, ok = plan_benchmark(exp, work_dir, seeds, settings, REPO_ROOT, sys.executable)
    except ValueError as err:
        sys.exit(f'error: {err}')
    if args.dry_run or not ok:
        if not ok:
            sys.exit(f'\nnothing started: fix the above first (plan: {work_dir}/plan.json).')
        return
    if args.launcher == 'slurm':
        from mmgcp.benchmark.slurm import run_on_slurm
        try:
            run_on_slurm(exp, work_dir, plan, settings, REPO_ROOT,
                         retry_failed=not args.no_retry_failed, wait=args.wait,
                         poll_s=args.poll_interval)
        except SlurmError as err:
            sys.exit(f'error: {err}')
        annotate_results(work_dir, plan)
        return
    tools = RecipeLauncher(REPO_ROOT, plan, settings)
    # In-process workers run each tool's plain command line: a run whose recipe needs extra
    # options (--auto-scale-lr) goes through the recipe launcher's subprocesses instead.
    if any(entry.get('extra_cfg_options') for entry in plan['runs']):
        workers = 0
    out = run_benchmark(exp, work_dir, seeds, tools,
                        retry_failed=not args.no_retry_failed, workers=workers,
                        profile=args.profile)
    annotate_results(work_dir, plan)
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
