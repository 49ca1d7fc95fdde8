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
import os.path as osp

from mmengine.config import DictAction

import mmgcp  # noqa: F401
from mmgcp.benchmark.cli import run_from_args
from mmgcp.utils import add_trust_checkpoint_argument

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
    parser.add_argument('--slurm-time',
                        help='slurm: time limit of every job (--time: minutes, HH:MM:SS or '
                        'D-HH:MM:SS); a job reaching it saves a checkpoint, requeues itself and '
                        'resumes (default: the partition\'s limit)')
    parser.add_argument('--slurm-signal-delay', type=int, default=120,
                        help='slurm: seconds before the time limit at which a job is told to '
                        'save a checkpoint and requeue (default 120)')
    parser.add_argument('--slurm-gpu-request', choices=['gpus-per-node', 'gres'],
                        default='gpus-per-node',
                        help='slurm: ask for GPUs with --gpus-per-node=N (default) or '
                        '--gres=gpu:N (clusters without select/cons_tres)')
    parser.add_argument('--slurm-max-requeues', type=int, default=20,
                        help='slurm: how often a job may requeue itself at its time limit '
                        'before the run counts as failed (default 20)')
    parser.add_argument('--wait', action='store_true',
                        help='slurm: wait until every job has ended, then report')
    parser.add_argument('--poll-interval', type=float, default=10.0,
                        help='slurm --wait: seconds between sacct polls')
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
    add_trust_checkpoint_argument(parser)
    parser.add_argument('--tensorboard', action='store_true',
                        help='every run also writes TensorBoard event files (in its vis_data/)')
    parser.add_argument('--options', nargs='+', action=DictAction,
                        help='override experiment settings, e.g. toy_data.cls.img_size=32')
    return parser.parse_args()


def main():
    run_from_args(parse_args(), REPO_ROOT)


if __name__ == '__main__':
    main()
