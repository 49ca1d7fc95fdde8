# Copyright (c) mmgcp contributors. All rights reserved.
"""Evaluate a checkpoint under the 15 ImageNet-C / COCO-C corruptions at severities 1-5.

    python tools/analysis/robustness.py CONFIG CHECKPOINT [--corruptions ...] [--severities ...]
        [--seed 0] [--metric KEY] [--baseline GAP_ROBUSTNESS_JSON] [--out-dir DIR]
    python tools/analysis/robustness.py plot A.json [B.json ...] [--labels gap gcp] [--out PNG]

The first form evaluates the clean test set, then every corruption x severity with
``mmgcp.Corrupt`` inserted right after ``LoadImageFromFile`` in the test pipeline (one Runner and
model; the test loop is rebuilt for each condition), and writes ``robustness.json``,
``robustness.csv`` and ``robustness.png`` (metric vs severity) to ``--out-dir``. Works for
mmpretrain, mmdet and mmseg configs; the config's ``default_scope`` picks the default metric.
"""
import argparse
import copy
import os
import os.path as osp
import sys
import time

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import mmgcp  # noqa: F401  registers mmgcp and fixes local checkpoint loading on torch >= 2.6
from mmgcp.robustness import (
    CORRUPTIONS,
    DEFAULT_METRICS,
    corrupt_dataloader_cfg,
    load_result,
    metric_scale,
    metric_table,
    plot_robustness,
    summarize_robustness,
    write_result,
)
from mmgcp.robustness.corruptions import check_corruption
from mmgcp.robustness.metrics import TASK_KINDS, severity_curve
from mmgcp.utils import check_checkpoint_covers_model, check_data, setup_cpu_distributed


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
    args = parser.parse_args(argv)
    for corruption in args.corruptions:
        check_corruption(corruption, 1)
    for severity in args.severities:
        check_corruption(args.corruptions[0], severity)
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


def _numeric(metrics: dict) -> dict:
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) or hasattr(v, '__float__') and not isinstance(v, str)}


class CorruptionEvaluator:
    """Evaluates one Runner's model on the test set under a list of pipeline variants."""

    def __init__(self, runner: Runner, cfg: Config):
        self.runner = runner
        self.dataloader_cfg = copy.deepcopy(cfg.test_dataloader)
        self.evaluator_cfg = copy.deepcopy(cfg.test_evaluator)
        self.loop_cfg = copy.deepcopy(cfg.get('test_cfg') or {})

    def evaluate(self, corruption=None, severity=0, seed=0) -> dict:
        dataloader_cfg = copy.deepcopy(self.dataloader_cfg)
        if corruption is not None:
            dataloader_cfg = corrupt_dataloader_cfg(dataloader_cfg, corruption, severity, seed)
        self.runner._test_dataloader = dataloader_cfg
        self.runner._test_evaluator = copy.deepcopy(self.evaluator_cfg)
        self.runner._test_loop = copy.deepcopy(self.loop_cfg)
        return _numeric(self.runner.test())


def evaluate(args) -> dict:
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint} does not exist; pass the .pth '
                                'written by tools/train.py or a converted checkpoint.')
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    cfg.launcher = 'none'
    check_data(cfg, ('test', ), config=args.config)
    setup_cpu_distributed(cfg, 'none')
    scope = cfg.get('default_scope')
    metric = args.metric or DEFAULT_METRICS.get(scope)
    if metric is None:
        raise ValueError(f'no default metric for default_scope={scope!r} (known: '
                         f'{DEFAULT_METRICS}); pass --metric.')
    baseline = None
    if args.baseline:
        baseline = metric_table(load_result(args.baseline), metric)
    out_dir = args.out_dir or osp.join(cfg.work_dir, 'robustness')
    json_path, csv_path = osp.join(out_dir, 'robustness.json'), osp.join(out_dir, 'robustness.csv')

    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    check_checkpoint_covers_model(runner.model, args.checkpoint, args.allow_partial, args.config)
    evaluator = CorruptionEvaluator(runner, cfg)
    result = dict(config=args.config, checkpoint=args.checkpoint, scope=scope,
                  task=TASK_KINDS.get(scope), metric=metric, seed=args.seed,
                  corruptions=list(args.corruptions), severities=list(args.severities),
                  baseline=args.baseline, clean={}, results=[])
    start = time.time()
    result['clean'] = evaluator.evaluate()
    if metric not in result['clean']:
        raise KeyError(f'the test metrics have no {metric!r}; they are '
                       f"{sorted(result['clean'])}. Pass one of them as --metric.")
    total = len(args.corruptions) * len(args.severities)
    for corruption in args.corruptions:
        for severity in args.severities:
            tic = time.time()
            metrics = evaluator.evaluate(corruption, severity, args.seed)
            result['results'].append(dict(corruption=corruption, severity=severity,
                                          metrics=metrics, time_s=round(time.time() - tic, 2)))
            runner.logger.info(f'[robustness {len(result["results"])}/{total}] {corruption} '
                               f'severity {severity}: {metric}={metrics.get(metric)}')
            write_result(result, json_path, csv_path)  # partial results survive an interruption
    result['time_s'] = round(time.time() - start, 1)
    table = metric_table(result, metric)
    if any(s > 0 for s in args.severities):
        result['summary'] = summarize_robustness(table, result['clean'][metric],
                                                 metric_scale(metric), baseline)
    result['curve'] = severity_curve(table, result['clean'][metric])
    write_result(result, json_path, csv_path)
    png = plot_robustness([result], osp.join(out_dir, 'robustness.png'),
                          title=f'{osp.basename(args.config)}: {metric}')
    summary = result.get('summary', {})
    runner.logger.info(
        f"robustness of {args.checkpoint}: clean {metric}={result['clean'][metric]:.4g}, "
        f"mPC={summary.get('mPC', float('nan')):.4g}, rPC={summary.get('rPC', float('nan')):.4g}, "
        f"mCE={summary.get('mCE', float('nan')):.4g}"
        f"{' (normalised by the baseline)' if baseline else ''}; wrote {json_path}, {csv_path}, "
        f'{png}')
    return result


def plot(args) -> str:
    results = [load_result(path) for path in args.results]
    labels = args.labels or [osp.splitext(osp.basename(osp.dirname(osp.abspath(p))))[0]
                             for p in args.results]
    out = plot_robustness(results, args.out, labels=labels, metric=args.metric)
    print(f'wrote {out}')
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    os.environ.setdefault('LOCAL_RANK', '0')
    if argv and argv[0] == 'plot':
        return plot(parse_plot_args(argv[1:]))
    return evaluate(parse_eval_args(argv))


if __name__ == '__main__':
    main()
