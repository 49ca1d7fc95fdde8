# Copyright (c) mmgcp contributors. All rights reserved.
"""Evaluate a checkpoint under the 15 ImageNet-C / COCO-C corruptions at severities 1-5.

    python tools/analysis/robustness.py CONFIG CHECKPOINT [--corruptions ...] [--severities ...]
        [--seed 0] [--metric KEY] [--baseline GAP_ROBUSTNESS_JSON] [--out-dir DIR]
    python tools/analysis/robustness.py plot A.json [B.json ...] [--labels gap gcp] [--out PNG]

The first form calls :func:`mmgcp.robustness.evaluate_robustness` (clean test set, then every
corruption x severity; ``robustness.{json,csv,png}`` in ``--out-dir``), the second
:func:`mmgcp.robustness.plot_result_files`.
"""
import argparse
import os
import sys

from mmengine.config import DictAction

import mmgcp  # noqa: F401  registers mmgcp and fixes local checkpoint loading on torch >= 2.6
from mmgcp.robustness import CORRUPTIONS, evaluate_robustness, plot_result_files
from mmgcp.robustness.corruptions import check_conditions
from mmgcp.utils import add_trust_checkpoint_argument, exit_on_untrusted_checkpoint


def parse_eval_args(argv):
    parser = argparse.ArgumentParser(
        description='Evaluate a checkpoint under image corruptions (first form); '
        '`robustness.py plot A.json B.json` plots result files.')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--corruptions', nargs='+', default=list(CORRUPTIONS),
                        help='corruptions to apply (default: the 15 standard ones)')
    parser.add_argument('--severities', nargs='+', type=int, default=[1, 2, 3, 4, 5],
                        help='severities, 0 (clean, identity) to 5 (default: 1 2 3 4 5)')
    parser.add_argument('--seed', type=int, default=0,
                        help='base seed of the corruptions (same seed, same corrupted images)')
    parser.add_argument('--metric', help='metric to summarise (default: accuracy/top1, '
                        'coco/bbox_mAP or mIoU by the config\'s default_scope)')
    parser.add_argument('--baseline', help='robustness.json of a baseline model (e.g. GAP): '
                        'normalises the corruption errors as in ImageNet-C mCE')
    parser.add_argument('--work-dir', help='the runner\'s work dir (logs)')
    parser.add_argument('--out-dir', help='where to write robustness.{json,csv,png} '
                        '(default: <work-dir>/robustness)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, key=value pairs')
    parser.add_argument('--allow-partial', action='store_true',
                        help='evaluate even when the checkpoint does not hold exactly the '
                        'model\'s weights (by default an error)')
    add_trust_checkpoint_argument(parser)
    args = parser.parse_args(argv)
    check_conditions(args.corruptions, args.severities)
    return args


def parse_plot_args(argv):
    parser = argparse.ArgumentParser(
        prog='robustness.py plot', description='Plot metric vs severity of result files: one '
        'file gives a line per corruption and the mean, several a line per file (variant).')
    parser.add_argument('results', nargs='+', help='robustness.json files')
    parser.add_argument('--labels', nargs='+', help='one label per file (default: checkpoints)')
    parser.add_argument('--metric', help='metric key (default: the first file\'s metric)')
    parser.add_argument('--out', default='robustness.png', help='PNG to write')
    return parser.parse_args(argv)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    os.environ.setdefault('LOCAL_RANK', '0')
    if argv and argv[0] == 'plot':
        args = parse_plot_args(argv[1:])
        out = plot_result_files(args.results, args.out, labels=args.labels, metric=args.metric)
        print(f'wrote {out}')
        return out
    args = parse_eval_args(argv)
    return evaluate_robustness(
        args.config, args.checkpoint, corruptions=args.corruptions, severities=args.severities,
        seed=args.seed, metric=args.metric, baseline=args.baseline, work_dir=args.work_dir,
        out_dir=args.out_dir, cfg_options=args.cfg_options, allow_partial=args.allow_partial)


if __name__ == '__main__':
    with exit_on_untrusted_checkpoint():
        main()
