# Copyright (c) mmgcp contributors. All rights reserved.
"""How many seeds each comparison of a pilot benchmark needs to detect a target difference
(:func:`mmgcp.benchmark.seed_plan.plan_seeds`; see docs/statistics.md).

Example::

    python tools/analysis/seeds_needed.py work_dirs/benchmark_toy/results.json \\
        coco/bbox_mAP=0.007 mIoU=2%
"""
import argparse

from mmgcp.benchmark.power import MAX_SEEDS
from mmgcp.benchmark.seed_plan import load_results, parse_target, plan_seeds, seed_plan_table


def parse_args():
    parser = argparse.ArgumentParser(
        description='Seeds each comparison of a pilot results.json needs for a target difference')
    parser.add_argument('results', help='results.json of a benchmark run (the pilot)')
    parser.add_argument(
        'targets', nargs='+', metavar='METRIC=TARGET',
        help='difference to detect per metric: absolute in the metric\'s units '
        '(coco/bbox_mAP=0.007) or relative to the baseline\'s mean (coco/bbox_mAP=2%%)')
    parser.add_argument('--power', type=float,
                        help='wanted power (default: the report\'s, 0.8)')
    parser.add_argument('--max-seeds', type=int, default=MAX_SEEDS,
                        help=f'largest number of seeds searched (default {MAX_SEEDS})')
    return parser, parser.parse_args()


def main():
    parser, args = parse_args()
    try:
        targets = {}
        for text in args.targets:
            metric, target, relative = parse_target(text)
            targets[metric] = (target, relative)
        plan = plan_seeds(load_results(args.results), targets, args.power, args.max_seeds)
    except (ValueError, KeyError, FileNotFoundError) as err:
        parser.error(str(err).strip('"'))
    print(seed_plan_table(plan, args.max_seeds))


if __name__ == '__main__':
    main()
