# Copyright (c) mmgcp contributors. All rights reserved.
"""Tables and plots of the transfer benchmark."""
import csv
import glob
import json
import math
import os
import os.path as osp
from collections import OrderedDict, defaultdict
from typing import Dict, List, Optional, Tuple

from .experiment import Run


def result_rows(runs: List[Run], statuses: List[dict]) -> List[dict]:
    """One flat row per run: identity, state, every metric, wall time, peak memory, error."""
    rows = []
    for run, status in zip(runs, statuses):
        row = OrderedDict(variant=run.variant, task=run.task, seed=run.seed,
                          state=status.get('state', 'not run'), config=run.config)
        metrics = status.get('metrics', {})
        for key in run.metrics:
            row[key] = metrics.get(key)
        for key, value in metrics.items():
            row.setdefault(key, value)
        row['wall_time_s'] = round(status.get('wall_time_s', 0.0), 1)
        row['peak_rss_mb'] = round(status.get('peak_rss_mb', 0.0), 1)
        row['error'] = status.get('error', '')
        rows.append(row)
    return rows


def _mean_std(values: List[float]) -> Tuple[float, float]:
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def summarize(runs: List[Run], rows: List[dict]) -> List[dict]:
    """Mean and sample standard deviation over seeds of each variant x task x metric."""
    groups: Dict[tuple, List[float]] = defaultdict(list)
    failed: Dict[tuple, List[str]] = defaultdict(list)
    order = []
    for run, row in zip(runs, rows):
        for metric in run.metrics:
            key = (run.variant, run.task, metric)
            if key not in order:
                order.append(key)
            if row['state'] == 'done' and isinstance(row.get(metric), (int, float)):
                groups[key].append(float(row[metric]))
            elif row['state'] != 'done':
                failed[key].append(row['error'].splitlines()[-1] if row['error'] else row['state'])
    summary = []
    for variant, task, metric in order:
        values = groups.get((variant, task, metric), [])
        entry = dict(variant=variant, task=task, metric=metric, n=len(values))
        if values:
            entry['mean'], entry['std'] = _mean_std(values)
        if failed.get((variant, task, metric)):
            entry['failures'] = failed[(variant, task, metric)]
        summary.append(entry)
    return summary


def _fmt(value: float, scale: Optional[float] = None) -> str:
    """Two decimals for percentages, three for fractions such as COCO's mAP (chosen by ``scale``,
    default the value itself, so a mean and its std get the same precision)."""
    scale = value if scale is None else scale
    return f'{value:.2f}' if abs(scale) >= 1 else f'{value:.3f}'


def markdown_table(summary: List[dict]) -> str:
    """Variants as rows, ``task: metric`` as columns, ``mean ± std (n)`` cells."""
    columns = list(OrderedDict.fromkeys(f"{s['task']}: {s['metric']}" for s in summary))
    variants = list(OrderedDict.fromkeys(s['variant'] for s in summary))
    cells = {}
    for s in summary:
        if 'mean' in s:
            text = f"{_fmt(s['mean'])} ± {_fmt(s['std'], s['mean'])} (n={s['n']})"
        else:
            text = 'failed: ' + (s.get('failures') or ['not run'])[0][:60].replace('|', '/')
        cells[(s['variant'], f"{s['task']}: {s['metric']}")] = text
    lines = ['| pretraining | ' + ' | '.join(columns) + ' |',
             '|---' * (len(columns) + 1) + '|']
    for variant in variants:
        lines.append(f'| {variant} | ' + ' | '.join(cells.get((variant, c), '-') for c in columns)
                     + ' |')
    return '\n'.join(lines)


def write_results(work_dir: str, runs: List[Run], statuses: List[dict],
                  meta: Optional[dict] = None) -> dict:
    """Write results.json, results.csv and results.md; returns their paths and the table."""
    rows = result_rows(runs, statuses)
    summary = summarize(runs, rows)
    table = markdown_table(summary)
    os.makedirs(work_dir, exist_ok=True)
    paths = dict(json=osp.join(work_dir, 'results.json'), csv=osp.join(work_dir, 'results.csv'),
                 md=osp.join(work_dir, 'results.md'))
    with open(paths['json'], 'w') as f:
        json.dump(dict(meta=meta or {}, runs=rows, summary=summary), f, indent=2)
    fields = list(OrderedDict.fromkeys(k for row in rows for k in row))
    with open(paths['csv'], 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    with open(paths['md'], 'w') as f:
        f.write(table + '\n')
    paths['table'] = table
    paths['summary'] = summary
    return paths


def validation_curve(work_dir: str, metric: str) -> List[Tuple[int, float]]:
    """(iteration, value) pairs of a validation metric from a run's mmengine scalar logs.

    Epoch-based loops log validation at ``step = epoch``; those steps are mapped to the last
    training iteration of that epoch, so every curve is against iterations.
    """
    points = []
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        last_iter_of_epoch, val_points = {}, []
        with open(path) as f:
            for line in f:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if 'loss' in record and 'epoch' in record and 'iter' in record:
                    last_iter_of_epoch[record['epoch']] = record['iter']
                elif metric in record:
                    val_points.append((record.get('step', 0), float(record[metric])))
        for step, value in val_points:
            points.append((last_iter_of_epoch.get(step, step), value))
    return sorted(dict(points).items())


def plot_results(work_dir: str, runs: List[Run], summary: List[dict]) -> List[str]:
    """metrics.png (metric per variant per task, error bars = std over seeds) and
    val_curves.png (validation metric against iteration per variant, seed 0 of each)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    written = []
    panels = list(OrderedDict.fromkeys((s['task'], s['metric']) for s in summary))
    variants = list(OrderedDict.fromkeys(s['variant'] for s in summary))
    colours = {v: plt.cm.tab10(i % 10) for i, v in enumerate(variants)}
    if panels:
        fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.4), squeeze=False)
        for ax, (task, metric) in zip(axes[0], panels):
            entries = {s['variant']: s for s in summary
                       if s['task'] == task and s['metric'] == metric}
            means = [entries.get(v, {}).get('mean', float('nan')) for v in variants]
            stds = [entries.get(v, {}).get('std', 0.0) for v in variants]
            ax.bar(range(len(variants)), means, yerr=stds, capsize=4,
                   color=[colours[v] for v in variants])
            for i, m in enumerate(means):
                if math.isnan(m):
                    ax.text(i, 0, 'failed', ha='center', va='bottom', rotation=90, fontsize=8)
                else:
                    ax.text(i, m, _fmt(m), ha='center', va='bottom', fontsize=8)
            ax.set_xticks(range(len(variants)))
            ax.set_xticklabels(variants)
            ax.set_title(f'{task}\n{metric}', fontsize=9)
        fig.suptitle('metric per pretraining (mean ± std over seeds)', fontsize=10)
        fig.tight_layout()
        path = osp.join(work_dir, 'metrics.png')
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

        fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.4), squeeze=False)
        for ax, (task, metric) in zip(axes[0], panels):
            for run in runs:
                if run.task != task or run.seed != min(r.seed for r in runs):
                    continue
                curve = validation_curve(run.work_dir, metric)
                if curve:
                    xs, ys = zip(*curve)
                    ax.plot(xs, ys, marker='o', ms=3, label=run.variant, color=colours[run.variant])
            ax.set_xlabel('iteration')
            ax.set_title(f'{task}: {metric}', fontsize=9)
            ax.legend(fontsize=7)
        fig.suptitle('validation metric during training', fontsize=10)
        fig.tight_layout()
        path = osp.join(work_dir, 'val_curves.png')
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written
