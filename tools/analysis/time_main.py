# Copyright (c) mmgcp contributors. All rights reserved.
"""Time the main job (the default toy transfer benchmark) and show where the time goes.

Runs ``tools/benchmark_transfer.py configs/benchmark/toy.py --profile`` once in a fresh work dir
(the toy data is reused when it is already there) and prints the wall time, the CPU time (user +
sys of every process), the load average before and after, the cost of one fresh tool process
(what one process per train/test call would pay each time), and the CPU time of every stage
(setup, training data, training steps, validation, test, other hooks) per task::

    python tools/analysis/time_main.py [--work-dir DIR] [--seeds 3] [--workers 2]

CPU time does not depend on other load on the machine; wall time does: quote the load with it.
"""
import argparse
import json
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from mmgcp.benchmark.profile import format_timing, time_benchmark  # noqa: E402

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args():
    parser = argparse.ArgumentParser(description='Time the default transfer benchmark')
    parser.add_argument('experiment', nargs='?', default='configs/benchmark/toy.py')
    parser.add_argument('--work-dir', help='a new folder (default: work_dirs/time_main_<time>)')
    parser.add_argument('--seeds', type=int, default=3)
    parser.add_argument('--workers', type=int, help="benchmark_transfer.py's --workers")
    parser.add_argument('--options', nargs='+', help="benchmark_transfer.py's --options")
    return parser.parse_args()


def main():
    args = parse_args()
    work_dir = args.work_dir or osp.join(
        'work_dirs', time.strftime('time_main_%Y%m%d_%H%M%S'))
    timing = time_benchmark(args.experiment, work_dir, REPO_ROOT, args.seeds, args.workers,
                            args.options)
    print('\n' + format_timing(timing))
    path = osp.join(REPO_ROOT, work_dir, 'timing.json') if not osp.isabs(work_dir) else osp.join(
        work_dir, 'timing.json')
    if osp.isdir(osp.dirname(path)):
        with open(path, 'w') as f:
            json.dump(timing, f, indent=2)
        print(f'\ntiming: {path}')
    sys.exit(timing['returncode'])


if __name__ == '__main__':
    main()
