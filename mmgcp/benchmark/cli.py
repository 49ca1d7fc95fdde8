# Copyright (c) mmgcp contributors. All rights reserved.
"""What ``tools/benchmark_transfer.py`` does with its parsed arguments: check them, choose the
launcher, run the driver, print the report. The script itself only parses the command line."""
import argparse
import os
import os.path as osp
import shlex
import signal
import sys

from mmgcp.utils import enable_benchmark_tensorboard

from .driver import PlanError, run_benchmark
from .experiment import load_experiment
from .launchers import make_launcher
from .launchers.local import BenchmarkInterrupted
from .lock import WorkDirBusyError
from .plan import LaunchSettings
from .pretrained import PretrainedError
from .settings import StaleRunsError
from .toy_data import check_toy_data


def _settings(args: argparse.Namespace, device: str) -> LaunchSettings:
    return LaunchSettings(
        launcher=args.launcher, gpus=args.gpus, device=device,
        auto_scale_lr=args.auto_scale_lr, partition=args.slurm_partition,
        cpus_per_task=args.cpus_per_task, sbatch_args=shlex.split(args.sbatch_args),
        srun_args=shlex.split(args.srun_args), time=args.slurm_time,
        signal_delay_s=args.slurm_signal_delay, gpu_request=args.slurm_gpu_request,
        max_requeues=args.slurm_max_requeues)


def run_from_args(args: argparse.Namespace, repo_root: str, python: str = sys.executable) -> None:
    """Run the benchmark as ``tools/benchmark_transfer.py`` was asked to.

    Args:
        args (argparse.Namespace): The script's parsed arguments.
        repo_root (str): Repository root (where the tools and configs are).
        python (str): Interpreter of the tool processes. Defaults to this one.

    Raises:
        SystemExit: With the message of the first problem, before any work starts; with
            128 + the signal number when a signal stopped it.
    """
    if args.seeds < 1:
        sys.exit('error: --seeds must be >= 1')
    try:
        exp = load_experiment(args.experiment, args.options)
        check_toy_data(exp.get('toy_data'), repo_root)  # before anything is planned
        settings = _settings(args, exp.get('device', 'cuda'))
    except (FileExistsError, FileNotFoundError, KeyError, TypeError, ValueError) as err:
        sys.exit(f'error: {err}')
    if args.tensorboard:
        enable_benchmark_tensorboard(exp)
    name = osp.splitext(osp.basename(args.experiment))[0]
    work_dir = osp.abspath(args.work_dir or osp.join('work_dirs', f'benchmark_{name}'))
    workers = args.workers
    if workers is None:
        workers = min(2, os.cpu_count() or 1) if args.launcher == 'none' else 0
    if workers and args.launcher != 'none':
        sys.exit('error: --workers needs --launcher none (the distributed launchers start their '
                 'own processes); drop --workers or use --launcher none.')
    if workers < 0:
        sys.exit('error: --workers must be >= 0')
    if args.launcher != 'slurm' and args.wait:
        sys.exit('error: --wait only applies to --launcher slurm (the other launchers return '
                 'when every run has ended).')
    launcher = make_launcher(settings, repo_root, workers=workers, profile=args.profile,
                             python=python, poll_s=args.poll_interval)
    try:
        out = run_benchmark(exp, work_dir, list(range(args.seeds)), settings, launcher, repo_root,
                            retry_failed=not args.no_retry_failed, dry_run=args.dry_run,
                            wait=args.wait)
    except (PlanError, StaleRunsError, WorkDirBusyError, PretrainedError, FileExistsError) as err:
        sys.exit(f'error: {err}')
    except BenchmarkInterrupted as stop:
        sys.stderr.write(f'\n{stop}: the runs it was executing saved a checkpoint where they '
                         'were training (or stopped); run the same command again to resume '
                         'them.\n')
        sys.exit(128 + stop.signum)
    except KeyboardInterrupt:
        sys.stderr.write('\ninterrupted; run the same command again to resume.\n')
        sys.exit(128 + signal.SIGINT)
    if out is None:
        return
    print_report(out, exp.get('preset', name), args.seeds)


def print_report(out: dict, preset: str, seeds: int) -> None:
    """The report on the console: table, comparisons, plateau checks, where the files are."""
    print(f'\nCross-task transfer ({preset}, seeds={seeds})\n')
    print(out['table'])
    if out['comparisons']:
        alpha = out['statistics']['alpha']
        print(f'\nPaired comparisons (variant - baseline, per seed; {100 * (1 - alpha):g}% CI, '
              'paired t-test, Holm-adjusted over the family)\n')
        print(out['comparison_table'])
    if out.get('interval_notes'):
        print('\n' + out['interval_notes'])
    if out.get('plateau_summary'):
        print('\n' + out['plateau_summary'])
    failed = {name: state for name, state in out.get('states', {}).items()
              if state.state in ('failed', 'cancelled')}
    for name, state in failed.items():
        print(f'\n{name} {state.state}: {state.error}')
    active = [name for name, state in out.get('states', {}).items() if state.active]
    if active:
        cmd = ' '.join(shlex.quote(a) for a in sys.argv) if sys.argv else 'the same command'
        print(f'\n{len(active)} run(s) queued or running. Follow with `squeue`; run `{cmd}` '
              'again to collect finished runs (add --wait to block until all are done).')
    elif failed:
        print('\nRun the same command again to retry the failed runs and the ones they took down '
              '(finished runs are kept); --no-retry-failed keeps them failed.')
    print(f"\nresults: {out['json']}, {out['csv']}, {out['md']}")
    for path in out['plots'] + out.get('robustness', []):
        print(f'output:  {path}')
