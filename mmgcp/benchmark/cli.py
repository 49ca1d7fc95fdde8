# Copyright (c) mmgcp contributors. All rights reserved.
"""What ``tools/benchmark_transfer.py`` does with its parsed arguments: check, plan, launch (in
process, torchrun or Slurm), report. The script itself only parses the command line."""
import argparse
import os
import os.path as osp
import shlex
import sys

from mmgcp.utils import enable_benchmark_tensorboard

from .experiment import load_experiment
from .launchers import RecipeLauncher
from .plan import LaunchSettings, annotate_results, plan_benchmark
from .settings import StaleRunsError
from .transfer import check_toy_data, run_benchmark


def run_from_args(args: argparse.Namespace, repo_root: str, python: str = sys.executable) -> None:
    """Run the benchmark as ``tools/benchmark_transfer.py`` was asked to.

    Args:
        args (argparse.Namespace): The script's parsed arguments.
        repo_root (str): Repository root (where the tools and configs are).
        python (str): Interpreter of the tool processes. Defaults to this one.

    Raises:
        SystemExit: With the message of the first problem, before any work starts.
    """
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
        plan, ok = plan_benchmark(exp, work_dir, seeds, settings, repo_root, python)
    except ValueError as err:
        sys.exit(f'error: {err}')
    if args.dry_run or not ok:
        if not ok:
            sys.exit(f'\nnothing started: fix the above first (plan: {work_dir}/plan.json).')
        return
    if args.launcher == 'slurm':
        from mmgcp.benchmark.slurm import run_on_slurm
        try:
            run_on_slurm(exp, work_dir, plan, settings, repo_root,
                         retry_failed=not args.no_retry_failed, wait=args.wait,
                         poll_s=args.poll_interval)
        except (SlurmError, StaleRunsError) as err:
            sys.exit(f'error: {err}')
        annotate_results(work_dir, plan)
        return
    tools = RecipeLauncher(repo_root, plan, settings)
    # In-process workers run each tool's plain command line: a run whose recipe needs extra
    # options (--auto-scale-lr) goes through the recipe launcher's subprocesses instead.
    if any(entry.get('extra_cfg_options') for entry in plan['runs']):
        workers = 0
    try:
        out = run_benchmark(exp, work_dir, seeds, tools,
                            retry_failed=not args.no_retry_failed, workers=workers,
                            profile=args.profile)
    except StaleRunsError as err:
        sys.exit(f'error: {err}')
    annotate_results(work_dir, plan)
    print(f'\nCross-task transfer ({exp.get("preset", name)}, seeds={args.seeds})\n')
    print(out['table'])
    if out['comparisons']:
        print('\nPaired comparisons (variant - baseline, per seed; 95% CI, paired t-test)\n')
        print(out['comparison_table'])
    if out.get('plateau_summary'):
        print('\n' + out['plateau_summary'])
    print(f"\nresults: {out['json']}, {out['csv']}, {out['md']}")
    for path in out['plots'] + out.get('robustness', []):
        print(f'output:  {path}')
