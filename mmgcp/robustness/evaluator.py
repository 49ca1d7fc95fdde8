# Copyright (c) mmgcp contributors. All rights reserved.
"""Evaluate a checkpoint of any mmpretrain, mmdet or mmseg config under image corruptions.

One Runner and one model serve every condition: the clean test set, then each corruption x
severity with ``mmgcp.Corrupt`` inserted right after the image is loaded (a new test loop per
condition, built with mmengine's public ``LOOPS`` registry and ``Runner`` methods).
"""
import copy
import os.path as osp
import time
from typing import Optional, Sequence

from mmengine.config import Config
from mmengine.registry import LOOPS, RUNNERS
from mmengine.runner import Runner

from mmgcp.utils import (
    check_checkpoint_covers_model,
    check_checkpoint_trusted,
    check_data,
    setup_cpu_distributed,
)
from mmgcp.utils.tasks import DEFAULT_METRICS, task_kind_of_scope

from .corruptions import CORRUPTIONS, check_conditions
from .metrics import metric_scale, severity_curve, summarize_robustness
from .pipeline import corrupt_dataloader_cfg
from .plot import plot_robustness
from .results import load_result, metric_table, write_result


def _numeric(metrics: dict) -> dict:
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) or hasattr(v, '__float__') and not isinstance(v, str)}


class CorruptionEvaluator:
    """Evaluates one Runner's model on the test set under corrupted variants of its pipeline.

    Each :meth:`evaluate` builds a fresh test loop (the config's ``test_cfg``, mmengine's
    ``TestLoop`` by default) on a corrupted copy of ``test_dataloader`` and runs it between the
    runner's ``before_run`` and ``after_run`` hooks, as ``Runner.test`` does. The checkpoint
    (``load_from``) is loaded once, before the first evaluation.

    Args:
        runner (Runner): A runner built from ``cfg``.
        cfg (Config): The config the runner was built from (its ``test_dataloader``,
            ``test_evaluator`` and ``test_cfg``).
    """

    def __init__(self, runner: Runner, cfg: Config):
        if cfg.get('test_dataloader') is None or cfg.get('test_evaluator') is None:
            raise ValueError('the config has no test_dataloader or test_evaluator; robustness '
                             'evaluation runs the test set of the config.')
        self.runner = runner
        self.dataloader_cfg = copy.deepcopy(cfg.test_dataloader)
        self.evaluator_cfg = copy.deepcopy(cfg.test_evaluator)
        self.loop_cfg = copy.deepcopy(cfg.get('test_cfg') or {})

    def evaluate(self, corruption: Optional[str] = None, severity: int = 0,
                 seed: int = 0) -> dict:
        """Test metrics under one corruption (None: the clean test set).

        Args:
            corruption (str, optional): Corruption name. Defaults to None (clean).
            severity (int): 0 (clean) to 5. Defaults to 0.
            seed (int): Base seed of the corruption. Defaults to 0.

        Returns:
            dict: The numeric test metrics.
        """
        dataloader_cfg = copy.deepcopy(self.dataloader_cfg)
        if corruption is not None:
            dataloader_cfg = corrupt_dataloader_cfg(dataloader_cfg, corruption, severity, seed)
        loop_cfg = copy.deepcopy(self.loop_cfg)
        loop_cfg.setdefault('type', 'TestLoop')
        loop = LOOPS.build(
            loop_cfg,
            default_args=dict(runner=self.runner, dataloader=dataloader_cfg,
                              evaluator=copy.deepcopy(self.evaluator_cfg)))
        self.runner.call_hook('before_run')
        self.runner.load_or_resume()  # loads `load_from` once
        metrics = loop.run()
        self.runner.call_hook('after_run')
        return _numeric(metrics)


def evaluate_robustness(config: str,
                        checkpoint: str,
                        corruptions: Sequence[str] = CORRUPTIONS,
                        severities: Sequence[int] = (1, 2, 3, 4, 5),
                        seed: int = 0,
                        metric: Optional[str] = None,
                        baseline: Optional[str] = None,
                        work_dir: Optional[str] = None,
                        out_dir: Optional[str] = None,
                        cfg_options: Optional[dict] = None,
                        allow_partial: bool = False) -> dict:
    """Evaluate a checkpoint clean and under every corruption x severity; write the results.

    Writes ``robustness.json`` and ``robustness.csv`` (after every condition, so that partial
    results survive an interruption) and ``robustness.png`` (metric vs severity) to ``out_dir``.

    Args:
        config (str): Test config (mmpretrain, mmdet or mmseg).
        checkpoint (str): The checkpoint to evaluate.
        corruptions (Sequence[str]): Corruption names. Defaults to the 15 standard ones.
        severities (Sequence[int]): Severities, 0 (clean) to 5. Defaults to 1-5.
        seed (int): Base seed of the corruptions (same seed, same corrupted images). Defaults
            to 0.
        metric (str, optional): Metric to summarise. Defaults to the task's default metric
            (``accuracy/top1``, ``coco/bbox_mAP`` or ``mIoU`` by the config's
            ``default_scope``).
        baseline (str, optional): ``robustness.json`` of a baseline model (e.g. GAP) that
            normalises the corruption errors as ImageNet-C's mCE does. Defaults to None.
        work_dir (str, optional): The runner's work dir. Defaults to the config's, else
            ``work_dirs/<config name>``.
        out_dir (str, optional): Output folder. Defaults to ``<work_dir>/robustness``.
        cfg_options (dict, optional): Overrides merged into the config. Defaults to None.
        allow_partial (bool): Evaluate even when the checkpoint does not hold exactly the
            model's weights (by default :class:`mmgcp.utils.CheckpointMismatchError`).
            Defaults to False.

    Returns:
        dict: The result written to ``robustness.json``.
    """
    corruptions, severities = list(corruptions), [int(s) for s in severities]
    check_conditions(corruptions, severities)
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint {checkpoint} does not exist; pass the .pth '
                                'written by tools/train.py or a converted checkpoint.')
    cfg = Config.fromfile(config)
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    cfg.load_from = checkpoint
    cfg.launcher = 'none'
    check_checkpoint_trusted(checkpoint)  # before the Runner and the data are built
    check_data(cfg, ('test', ), config=config)
    setup_cpu_distributed(cfg, 'none')
    scope = cfg.get('default_scope')
    task = task_kind_of_scope(scope)
    metric = metric or DEFAULT_METRICS.get(task)
    if metric is None:
        raise ValueError(f'no default metric for default_scope={scope!r} (known: '
                         f'{DEFAULT_METRICS}); pass --metric.')
    baseline_table = metric_table(load_result(baseline), metric) if baseline else None
    out_dir = out_dir or osp.join(cfg.work_dir, 'robustness')
    json_path, csv_path = osp.join(out_dir, 'robustness.json'), osp.join(out_dir, 'robustness.csv')

    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    check_checkpoint_covers_model(runner.model, checkpoint, allow_partial, config)
    evaluator = CorruptionEvaluator(runner, cfg)
    result = dict(config=config, checkpoint=checkpoint, scope=scope, task=task, metric=metric,
                  seed=seed, corruptions=corruptions, severities=severities, baseline=baseline,
                  clean={}, results=[])
    start = time.time()
    result['clean'] = evaluator.evaluate()
    if metric not in result['clean']:
        raise KeyError(f'the test metrics have no {metric!r}; they are '
                       f"{sorted(result['clean'])}. Pass one of them as --metric.")
    total = len(corruptions) * len(severities)
    for corruption in corruptions:
        for severity in severities:
            tic = time.time()
            metrics = evaluator.evaluate(corruption, severity, seed)
            result['results'].append(dict(corruption=corruption, severity=severity,
                                          metrics=metrics, time_s=round(time.time() - tic, 2)))
            runner.logger.info(f'[robustness {len(result["results"])}/{total}] {corruption} '
                               f'severity {severity}: {metric}={metrics.get(metric)}')
            write_result(result, json_path, csv_path)  # partial results survive an interruption
    result['time_s'] = round(time.time() - start, 1)
    table = metric_table(result, metric)
    if any(s > 0 for s in severities):
        result['summary'] = summarize_robustness(table, result['clean'][metric],
                                                 metric_scale(metric), baseline_table)
    result['curve'] = severity_curve(table, result['clean'][metric])
    write_result(result, json_path, csv_path)
    png = plot_robustness([result], osp.join(out_dir, 'robustness.png'),
                          title=f'{osp.basename(config)}: {metric}')
    summary = result.get('summary', {})
    runner.logger.info(
        f"robustness of {checkpoint}: clean {metric}={result['clean'][metric]:.4g}, "
        f"mPC={summary.get('mPC', float('nan')):.4g}, rPC={summary.get('rPC', float('nan')):.4g}, "
        f"mCE={summary.get('mCE', float('nan')):.4g}"
        f"{' (normalised by the baseline)' if baseline else ''}; wrote {json_path}, {csv_path}, "
        f'{png}')
    return result


def plot_result_files(paths: Sequence[str], out: str, labels: Optional[Sequence[str]] = None,
                      metric: Optional[str] = None) -> str:
    """Plot metric vs severity of ``robustness.json`` files: one line per file (variant).

    Args:
        paths (Sequence[str]): ``robustness.json`` files.
        out (str): PNG to write.
        labels (Sequence[str], optional): One label per file. Defaults to the files' folders.
        metric (str, optional): Metric key. Defaults to the first file's metric.

    Returns:
        str: The written PNG.
    """
    results = [load_result(path) for path in paths]
    labels = list(labels) if labels else [
        osp.splitext(osp.basename(osp.dirname(osp.abspath(p))))[0] for p in paths]
    return plot_robustness(results, out, labels=labels, metric=metric)
