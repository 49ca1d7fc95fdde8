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
from .stats import compare_variants, comparison_pairs, mean_interval


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
        row['cpu_time_s'] = round(status.get('cpu_time_s', 0.0), 1)
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
            entry['values'] = values
            interval = mean_interval(values)
            if interval is not None:
                entry['ci_low'], entry['ci_high'] = interval
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
    """Variants as rows, ``task: metric`` as columns, ``mean ± std (n)`` cells (the value alone,
    ``value (n=1)``, for a single seed)."""
    columns = list(OrderedDict.fromkeys(f"{s['task']}: {s['metric']}" for s in summary))
    variants = list(OrderedDict.fromkeys(s['variant'] for s in summary))
    cells = {}
    for s in summary:
        if 'mean' in s and s['n'] > 1:
            text = f"{_fmt(s['mean'])} ± {_fmt(s['std'], s['mean'])} (n={s['n']})"
        elif 'mean' in s:
            text = f"{_fmt(s['mean'])} (n=1)"
        else:
            text = 'failed: ' + (s.get('failures') or ['not run'])[0][:60].replace('|', '/')
        cells[(s['variant'], f"{s['task']}: {s['metric']}")] = text
    lines = ['| pretraining | ' + ' | '.join(columns) + ' |',
             '|---' * (len(columns) + 1) + '|']
    for variant in variants:
        lines.append(f'| {variant} | ' + ' | '.join(cells.get((variant, c), '-') for c in columns)
                     + ' |')
    return '\n'.join(lines)


def _signed(value: float, scale: float) -> str:
    return ('+' if value > 0 else '') + _fmt(value, scale)


def comparison_table(comparisons: List[dict]) -> str:
    """One row per comparison: mean of the per-seed differences, its 95% interval, the paired
    t-test p-value and the verdict."""
    lines = ['| variant | baseline | task: metric | n | mean diff | 95% CI | p | verdict |',
             '|---|---|---|---|---|---|---|---|']
    for c in comparisons:
        if c['mean_diff'] is None:
            diff = interval = p_value = '-'
        else:
            scale = c['mean_diff'] if c['ci_low'] is None else max(
                abs(c['ci_low']), abs(c['ci_high']))
            diff = _signed(c['mean_diff'], scale)
            interval = ('-' if c['ci_low'] is None else
                        f"[{_signed(c['ci_low'], scale)}, {_signed(c['ci_high'], scale)}]")
            p_value = '-' if c['p_value'] is None else f"{c['p_value']:.3f}"
        lines.append(f"| {c['variant']} | {c['baseline']} | {c['task']}: {c['metric']} | "
                     f"{c['n']} | {diff} | {interval} | {p_value} | {c['verdict']} |")
    return '\n'.join(lines)


def _relative_change(previous: float, last: float) -> float:
    """``|last - previous| / |last|`` (0 for two zeros, inf from zero to a value)."""
    if last:
        return abs(last - previous) / abs(last)
    return 0.0 if last == previous else float('inf')


def plateau_check(runs: List[Run], rows: List[dict], tolerance: float = 0.05) -> List[dict]:
    """Did each finished run's validation metric settle? For every run and metric with at least
    two validations: ``|last - previous| < tolerance * |last|``.

    Returns:
        list[dict]: ``run``, ``metric``, ``last``, ``previous``, ``change`` (relative) and
        ``plateau`` (bool); runs validated fewer than twice are left out.
    """
    checks = []
    for run, row in zip(runs, rows):
        if row['state'] != 'done' or run.evaluate_only:
            continue
        for metric in run.metrics:
            curve = validation_curve(run.work_dir, metric)
            if len(curve) < 2:
                continue
            previous, last = curve[-2][1], curve[-1][1]
            change = _relative_change(previous, last)
            checks.append(dict(run=run.name, metric=metric, last=last, previous=previous,
                               change=round(change, 4), plateau=change < tolerance))
    return checks


def plateau_of_means(runs: List[Run], checks: List[dict],
                     tolerance: float = 0.05) -> List[dict]:
    """The plateau check of the table's entries: the same test as :func:`plateau_check` on the
    mean over seeds of the last two evaluations, per variant, task and metric (only where every
    seed of that variant and task has a check).

    Returns:
        list[dict]: ``variant``, ``task``, ``metric``, ``n`` (seeds), ``last`` and ``previous``
        (means over seeds), ``change`` (relative) and ``plateau`` (bool).
    """
    by_name = {run.name: run for run in runs}
    seeds: Dict[tuple, int] = {}
    for run in runs:
        if not run.evaluate_only:
            for metric in run.metrics:
                key = (run.variant, run.task, metric)
                seeds[key] = seeds.get(key, 0) + 1
    groups: Dict[tuple, List[dict]] = OrderedDict()
    for check in checks:
        run = by_name[check['run']]
        groups.setdefault((run.variant, run.task, check['metric']), []).append(check)
    means = []
    for (variant, task, metric), group in groups.items():
        if len(group) != seeds[(variant, task, metric)]:
            continue
        previous = sum(c['previous'] for c in group) / len(group)
        last = sum(c['last'] for c in group) / len(group)
        change = _relative_change(previous, last)
        means.append(dict(variant=variant, task=task, metric=metric, n=len(group), last=last,
                          previous=previous, change=round(change, 4),
                          plateau=change < tolerance))
    return means


def plateau_summary(plateaus: List[dict], plateau_means: List[dict]) -> str:
    """The plateau checks in words: how many run metrics (and seed means) settled, which not."""
    not_settled = [p for p in plateaus if not p['plateau']]
    lines = [f'Plateau (validation metric changed < 5% over the last two evaluations): '
             f'{len(plateaus) - len(not_settled)}/{len(plateaus)} run metrics'
             + (': not settled: ' + ', '.join(
                 f"{p['run']} {p['metric']} ({100 * p['change']:.0f}%)" for p in not_settled)
                if not_settled else '')]
    if plateau_means:
        unsettled = [p for p in plateau_means if not p['plateau']]
        largest = max(plateau_means, key=lambda p: p['change'])
        lines.append(
            "Plateau of the seed means (the table's entries, same test): "
            f'{len(plateau_means) - len(unsettled)}/{len(plateau_means)} settled'
            + (': not settled: ' + ', '.join(
                f"{p['variant']}/{p['task']} {p['metric']} ({100 * p['change']:.0f}%)"
                for p in unsettled) if unsettled else '')
            + f"; largest change {100 * largest['change']:.1f}% ({largest['variant']}/"
            f"{largest['task']} {largest['metric']})")
    return '\n'.join(lines)


def _scratch_variant(meta: dict) -> Optional[str]:
    variants = meta.get('variants') or {}
    return next((name for name, spec in variants.items() if spec.get('from_scratch')), None)


def write_results(work_dir: str, runs: List[Run], statuses: List[dict],
                  meta: Optional[dict] = None, baseline: str = 'gap') -> dict:
    """Write results.json, results.csv and results.md; returns their paths, the tables, the
    summary and the comparisons.

    ``results.md`` holds the per-variant table (mean ± std over seeds) and the paired
    comparisons (each variant against ``baseline``, each pretrained variant against the
    from-scratch variant of ``meta['variants']``)."""
    meta = meta or {}
    rows = result_rows(runs, statuses)
    summary = summarize(runs, rows)
    table = markdown_table(summary)
    metrics: Dict[str, List[str]] = {}
    for run in runs:
        metrics.setdefault(run.task, list(run.metrics))
    variants = list(OrderedDict.fromkeys(r.variant for r in runs))
    comparisons = compare_variants(rows, metrics,
                                   comparison_pairs(variants, baseline, _scratch_variant(meta)))
    comp_table = comparison_table(comparisons)
    plateaus = plateau_check(runs, rows)
    plateau_means = plateau_of_means(runs, plateaus)
    summary_text = plateau_summary(plateaus, plateau_means) if plateaus else ''
    os.makedirs(work_dir, exist_ok=True)
    paths = dict(json=osp.join(work_dir, 'results.json'), csv=osp.join(work_dir, 'results.csv'),
                 md=osp.join(work_dir, 'results.md'))
    with open(paths['json'], 'w') as f:
        json.dump(dict(meta=meta, runs=rows, summary=summary, comparisons=comparisons,
                       plateau=plateaus, plateau_means=plateau_means), f, indent=2)
    fields = list(OrderedDict.fromkeys(k for row in rows for k in row))
    with open(paths['csv'], 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    with open(paths['md'], 'w') as f:
        f.write(table + '\n')
        if comparisons:
            f.write('\nPaired by seed (variant - baseline); 95% CI of the mean difference '
                    '(Student t, n-1 dof), two-sided paired t-test:\n\n' + comp_table + '\n')
        if summary_text:
            f.write('\n' + summary_text + '\n')
    paths['table'] = table
    paths['comparison_table'] = comp_table
    paths['summary'] = summary
    paths['comparisons'] = comparisons
    paths['plateau'] = plateaus
    paths['plateau_means'] = plateau_means
    paths['plateau_summary'] = summary_text
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


def plot_results(work_dir: str, runs: List[Run], summary: List[dict],
                 scratch: Optional[str] = None) -> List[str]:
    """Write metrics.png and val_curves.png.

    metrics.png: one panel per task and metric; every seed's value as a dot, the mean as a bar
    with its 95% confidence interval (Student t), the from-scratch control's mean as a dashed
    reference line (its interval shaded). val_curves.png: the validation metric against the
    iteration, one line per variant (mean over seeds) with the band between the seeds' lowest and
    highest values.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np

    written = []
    panels = list(OrderedDict.fromkeys((s['task'], s['metric']) for s in summary))
    variants = list(OrderedDict.fromkeys(s['variant'] for s in summary))
    colours = {v: plt.cm.tab10(i % 10) for i, v in enumerate(variants)}
    if scratch is not None and scratch in colours:
        colours[scratch] = (0.45, 0.45, 0.45, 1.0)
    if not panels:
        return written
    seeds = sorted({r.seed for r in runs})
    width = max(3.2, 0.9 * len(variants) + 0.8)
    fig, axes = plt.subplots(1, len(panels), figsize=(width * len(panels), 3.8), squeeze=False)
    for ax, (task, metric) in zip(axes[0], panels):
        entries = {s['variant']: s for s in summary if s['task'] == task and s['metric'] == metric}
        shown = [v for v in variants if v in entries]
        reference = entries.get(scratch) if scratch is not None else None
        if reference is not None and 'mean' in reference:
            ax.axhline(reference['mean'], color='0.35', ls='--', lw=1, zorder=1,
                       label=f'{scratch} (mean)')
            if 'ci_low' in reference:
                ax.axhspan(reference['ci_low'], reference['ci_high'], color='0.85', zorder=0)
        for x, variant in enumerate(shown):
            entry = entries[variant]
            colour = colours[variant]
            if 'mean' not in entry:
                ax.text(x, 0.5, 'failed', ha='center', va='center', rotation=90, fontsize=8,
                        transform=ax.get_xaxis_transform())
                continue
            values = entry['values']
            offsets = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else [0.0]
            ax.scatter(x + 0.18 + np.asarray(offsets), values, s=14, color=colour,
                       edgecolor='black', linewidth=0.4, zorder=3)
            if 'ci_low' in entry:
                ax.errorbar(x - 0.12, entry['mean'],
                            yerr=[[entry['mean'] - entry['ci_low']],
                                  [entry['ci_high'] - entry['mean']]],
                            fmt='none', ecolor='black', capsize=4, lw=1.2, zorder=4)
            ax.plot([x - 0.3, x + 0.06], [entry['mean']] * 2, color=colour, lw=3, zorder=2)
            ax.annotate(_fmt(entry['mean']), (x - 0.12, entry['mean']), xytext=(0, 6),
                        textcoords='offset points', ha='center', fontsize=7)
        ax.set_xticks(range(len(shown)))
        ax.set_xticklabels(shown, fontsize=8)
        ax.set_xlim(-0.6, len(shown) - 0.4)
        ax.set_title(f'{task}: {metric}', fontsize=9)
        ax.grid(axis='y', alpha=0.3)
        if reference is not None and 'mean' in reference:
            ax.legend(fontsize=7, loc='best')
    fig.suptitle(f'dots: seeds ({len(seeds)}); bar: mean with 95% CI (Student t); dashed: '
                 'from-scratch control' if scratch else
                 f'dots: seeds ({len(seeds)}); bar: mean with 95% CI (Student t)', fontsize=9)
    fig.tight_layout()
    path = osp.join(work_dir, 'metrics.png')
    fig.savefig(path, dpi=120)
    plt.close(fig)
    written.append(path)

    curve_panels = [(t, m) for t, m in panels
                    if any(r.task == t and not r.evaluate_only for r in runs)]
    if not curve_panels:
        return written
    fig, axes = plt.subplots(1, len(curve_panels), figsize=(4.2 * len(curve_panels), 3.6),
                             squeeze=False)
    for ax, (task, metric) in zip(axes[0], curve_panels):
        for variant in variants:
            curves = [dict(validation_curve(r.work_dir, metric)) for r in runs
                      if r.task == task and r.variant == variant]
            curves = [c for c in curves if c]
            if not curves:
                continue
            iters = sorted(set().union(*curves))
            stacked = np.array([[c.get(i, np.nan) for i in iters] for c in curves])
            with np.errstate(all='ignore'):
                mean = np.nanmean(stacked, axis=0)
            ax.plot(iters, mean, marker='o', ms=3, color=colours[variant],
                    label=f'{variant} (n={len(curves)})')
            if len(curves) > 1:
                ax.fill_between(iters, np.nanmin(stacked, axis=0), np.nanmax(stacked, axis=0),
                                color=colours[variant], alpha=0.18, lw=0)
        ax.set_xlabel('iteration')
        ax.set_title(f'{task}: {metric}', fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle('validation during fine-tuning: mean over seeds, band = lowest to highest seed',
                 fontsize=9)
    fig.tight_layout()
    path = osp.join(work_dir, 'val_curves.png')
    fig.savefig(path, dpi=120)
    plt.close(fig)
    written.append(path)
    return written
