# Copyright (c) mmgcp contributors. All rights reserved.
"""Tables of the transfer benchmark: results.json, results.csv and results.md."""
import csv
import json
import math
import os
import os.path as osp
from collections import OrderedDict, defaultdict
from typing import Dict, List, Optional, Tuple

from .experiment import Run
from .plots import plot_results, validation_curve  # noqa: F401 (plot_results: kept importable)
from .stats import (
    check_statistics,
    compare_variants,
    comparison_pairs,
    format_value,
    mean_interval,
    metric_range,
    ordered_varies,
)


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


def summarize(runs: List[Run], rows: List[dict], alpha: float = 0.05) -> List[dict]:
    """Mean and sample standard deviation over seeds of each variant x task x metric.

    Args:
        runs (list[Run]): The runs, in report order.
        rows (list[dict]): Their rows (:func:`result_rows`).
        alpha (float): The intervals cover ``1 - alpha``. Defaults to 0.05.

    Returns:
        list[dict]: ``variant``, ``task``, ``metric``, ``varies`` (what the runs vary with,
        ``[]`` for a fixed checkpoint's evaluation), ``n``; with values: ``mean``, ``std``,
        ``values`` and, for ``n >= 2`` runs that vary with a seed, ``ci_low``, ``ci_high`` and
        ``ci_level`` (the Student-t interval of the mean within the metric's range, with
        ``ci_unclipped`` when clipped or ``range_note`` when the values are off the range);
        ``failures`` (last error lines) when runs failed.
    """
    groups: Dict[tuple, List[float]] = defaultdict(list)
    failed: Dict[tuple, List[str]] = defaultdict(list)
    varies: Dict[tuple, List[List[str]]] = defaultdict(list)
    order = []
    for run, row in zip(runs, rows):
        for metric in run.metrics:
            key = (run.variant, run.task, metric)
            if key not in order:
                order.append(key)
            varies[key].append(run.varies)
            if row['state'] == 'done' and isinstance(row.get(metric), (int, float)):
                groups[key].append(float(row[metric]))
            elif row['state'] != 'done':
                failed[key].append(row['error'].splitlines()[-1] if row['error'] else row['state'])
    summary = []
    for variant, task, metric in order:
        values = groups.get((variant, task, metric), [])
        entry = dict(variant=variant, task=task, metric=metric,
                     varies=ordered_varies(varies[(variant, task, metric)]), n=len(values))
        if values:
            entry['mean'], entry['std'] = _mean_std(values)
            entry['values'] = values
            # A fixed checkpoint's evaluations differ by nothing the seed controls: no interval.
            interval = mean_interval(values, alpha, metric_range(metric)) \
                if entry['varies'] else None
            if interval is not None:
                entry.update(interval, ci_level=1.0 - alpha)
        if failed.get((variant, task, metric)):
            entry['failures'] = failed[(variant, task, metric)]
        summary.append(entry)
    return summary


def markdown_table(summary: List[dict]) -> str:
    """Variants as rows, ``task: metric`` as columns, ``mean ± std (n)`` cells (the value alone,
    ``value (n=1)``, for a single seed; ``value (one evaluation of a fixed checkpoint)``)."""
    columns = list(OrderedDict.fromkeys(f"{s['task']}: {s['metric']}" for s in summary))
    variants = list(OrderedDict.fromkeys(s['variant'] for s in summary))
    cells = {}
    for s in summary:
        fixed = s.get('varies') == []
        if 'mean' in s and s['n'] > 1:
            text = (f"{format_value(s['mean'])} ± {format_value(s['std'], s['mean'])} "
                    + (f"({s['n']} evaluations of a fixed checkpoint)" if fixed
                       else f"(n={s['n']})"))
        elif 'mean' in s:
            text = format_value(s['mean']) + (' (one evaluation of a fixed checkpoint)' if fixed
                                              else ' (n=1)')
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
    return ('+' if value > 0 else '') + format_value(value, scale)


def _p_text(p_value: Optional[float]) -> str:
    if p_value is None:
        return '-'
    return '<0.001' if p_value < 0.001 else f'{p_value:.3f}'


def comparison_table(comparisons: List[dict], alpha: float = 0.05) -> str:
    """One row per comparison: mean of the per-seed differences, its ``1 - alpha`` interval, the
    paired t-test p-value, the Holm-adjusted p-value, the minimum detectable effect and the
    verdict."""
    lines = [f'| variant | baseline | task: metric | n | mean diff | {100 * (1 - alpha):g}% CI '
             '| p | p (Holm) | MDE | verdict |',
             '|---|---|---|---|---|---|---|---|---|---|']
    for c in comparisons:
        if c['mean_diff'] is None:
            diff = interval = '-'
        else:
            scale = c['mean_diff'] if c['ci_low'] is None else max(
                abs(c['ci_low']), abs(c['ci_high']))
            diff = _signed(c['mean_diff'], scale)
            interval = ('-' if c['ci_low'] is None else
                        f"[{_signed(c['ci_low'], scale)}, {_signed(c['ci_high'], scale)}]")
        mde = '-' if c.get('mde') is None else '±' + format_value(c['mde'])
        lines.append(f"| {c['variant']} | {c['baseline']} | {c['task']}: {c['metric']} | "
                     f"{c['n']} | {diff} | {interval} | {_p_text(c['p_value'])} | "
                     f"{_p_text(c.get('p_holm'))} | {mde} | {c['verdict']} |")
    return '\n'.join(lines)


#: What a comparison's n varies with, in words (keys: ``'+'``-joined :data:`VARIES_ORDER`).
VARIES_MEANING = {
    'finetune_seed': 'one pretrained checkpoint per variant, so pretraining variance is not in '
                     'these intervals and nothing in the data can show it',
    'pretrain_seed': 'each seed pretrains anew',
    'pretrain_seed+finetune_seed': 'each seed pretrains and fine-tunes anew',
    '': 'one evaluation of a fixed checkpoint per variant: reported, never tested',
}


def comparison_notes(comparisons: List[dict], statistics: Optional[dict] = None) -> str:
    """What the comparison table's p (Holm), MDE and n mean for this report, in words."""
    if not comparisons:
        return ''
    settings = check_statistics(statistics)
    families = OrderedDict((c['family'], c['family_size']) for c in comparisons if c['tested'])
    alpha = settings['alpha']
    lines = []
    if families:
        if settings['family'] == 'report':
            kind = f"one family, the whole report: m={families['report']}"
        else:
            kind = (f"one family per {settings['family'].replace('+', ' and ')}: "
                    + ', '.join(f'{label}: m={m}' for label, m in families.items()))
        lines.append(
            f'p: two-sided paired t-test; p (Holm): Holm-adjusted over its family of m tests '
            f'({kind}); the verdict follows p (Holm) at alpha={alpha:g}; the CI is per '
            'comparison (not adjusted).')
        power = f"{100 * settings['power']:g}%"
        lines.append(
            f"MDE: the smallest true mean difference the test detects with {power} power at "
            "the comparison's n and observed SD of its per-seed differences, at alpha/m of its "
            "family (Holm's strictest step, so the power holds whatever the other tests give). "
            f'"No difference detected" means a true difference of the MDE or more would have '
            f'been found with at least {power} probability if the observed SD is the true one '
            '(from few seeds it is itself uncertain); smaller ones can go unseen. Plan seeds '
            'with tools/analysis/seeds_needed.py.')
    groups: Dict[str, List[str]] = OrderedDict()
    for c in comparisons:
        tasks = groups.setdefault('+'.join(c['varies']), [])
        if c['task'] not in tasks:
            tasks.append(c['task'])
    for key, tasks in groups.items():
        lines.append(f"n varies: {key.replace('+', ', ') or 'nothing'} "
                         f"({', '.join(tasks)}): "
                         + VARIES_MEANING.get(key, 'see docs/statistics.md') + '.')
    clipped = [c for c in comparisons if 'ci_unclipped' in c]
    if clipped:
        lines.append('CI clipped to the range a difference of the metric can take: '
                     + ', '.join(f"{c['variant']}-{c['baseline']} {c['task']}: {c['metric']}"
                                 for c in clipped) + '.')
    return '\n'.join(lines)


def interval_notes(summary: List[dict]) -> str:
    """Which intervals of the means were clipped to their metric's range, or left unclipped
    because the values lie off it (empty when none)."""
    lines = []
    for s in summary:
        name = f"{s['variant']}/{s['task']} {s['metric']}"
        if 'ci_unclipped' in s:
            low, high = s['ci_unclipped']
            lines.append(f"{name}: [{format_value(s['ci_low'], s['mean'])}, "
                         f"{format_value(s['ci_high'], s['mean'])}] (Student t gave "
                         f"[{format_value(low, s['mean'])}, {format_value(high, s['mean'])}])")
        elif 'range_note' in s:
            lines.append(f"{name}: {s['range_note']}")
    if not lines:
        return ''
    return ("Intervals of the means (results.json, metrics.png) within the metric's range: "
            + '; '.join(lines) + '.')


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
    """Write results.json, results.csv and results.md.

    ``results.md`` holds the per-variant table (mean ± std over seeds), the paired comparisons
    (each variant against ``baseline``, each pretrained variant against the from-scratch variant
    of ``meta['variants']``) with Holm-adjusted p-values and minimum detectable effects, what
    each comparison's n varies with, the intervals clipped to their metric's range and the
    plateau checks.

    Args:
        work_dir (str): Folder the files are written to.
        runs (list[Run]): The runs, in report order.
        statuses (list[dict]): Each run's status (``state``, ``metrics``, ...).
        meta (dict, optional): Written to results.json as it is; ``variants`` (their specs,
            the from-scratch one with ``from_scratch=True``) and ``statistics`` (see
            :data:`mmgcp.benchmark.stats.STATISTICS_KEYS`) are read.
        baseline (str): The variant every other one is compared against. Defaults to 'gap'.

    Returns:
        dict: Paths (``json``, ``csv``, ``md``), ``table``, ``comparison_table`` (with its notes,
        as printed), ``comparison_notes``, ``interval_notes``, ``statistics`` (the settings and
        each family's size), ``summary``, ``comparisons``, ``plateau``, ``plateau_means`` and
        ``plateau_summary``.
    """
    meta = meta or {}
    settings = check_statistics(meta.get('statistics'))
    rows = result_rows(runs, statuses)
    summary = summarize(runs, rows, settings['alpha'])
    table = markdown_table(summary)
    metrics: Dict[str, List[str]] = {}
    varies: Dict[Tuple[str, str], List[List[str]]] = defaultdict(list)
    for run in runs:
        metrics.setdefault(run.task, list(run.metrics))
        varies[(run.variant, run.task)].append(run.varies)
    variants = list(OrderedDict.fromkeys(r.variant for r in runs))
    comparisons = compare_variants(
        rows, metrics, comparison_pairs(variants, baseline, _scratch_variant(meta)),
        {key: ordered_varies(lists) for key, lists in varies.items()}, settings)
    statistics = dict(settings, families=OrderedDict(
        (c['family'], c['family_size']) for c in comparisons if c['tested']))
    notes = comparison_notes(comparisons, settings)
    comp_table = comparison_table(comparisons, settings['alpha'])
    intervals = interval_notes(summary)
    plateaus = plateau_check(runs, rows)
    plateau_means = plateau_of_means(runs, plateaus)
    summary_text = plateau_summary(plateaus, plateau_means) if plateaus else ''
    os.makedirs(work_dir, exist_ok=True)
    paths = dict(json=osp.join(work_dir, 'results.json'), csv=osp.join(work_dir, 'results.csv'),
                 md=osp.join(work_dir, 'results.md'))
    with open(paths['json'], 'w') as f:
        json.dump(dict(meta=meta, statistics=statistics, runs=rows, summary=summary,
                       comparisons=comparisons, plateau=plateaus, plateau_means=plateau_means),
                  f, indent=2)
    fields = list(OrderedDict.fromkeys(k for row in rows for k in row))
    with open(paths['csv'], 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    with open(paths['md'], 'w') as f:
        f.write(table + '\n')
        if comparisons:
            f.write(f"\nPaired by seed (variant - baseline); {100 * (1 - settings['alpha']):g}% "
                    'CI of the mean difference (Student t, n-1 dof), two-sided paired t-test, '
                    'Holm-adjusted:\n\n' + comp_table + '\n\n' + notes + '\n')
        if intervals:
            f.write('\n' + intervals + '\n')
        if summary_text:
            f.write('\n' + summary_text + '\n')
    paths.update(table=table, comparison_table=comp_table + ('\n\n' + notes if notes else ''),
                 comparison_notes=notes, interval_notes=intervals, statistics=statistics,
                 summary=summary, comparisons=comparisons, plateau=plateaus,
                 plateau_means=plateau_means, plateau_summary=summary_text)
    return paths
