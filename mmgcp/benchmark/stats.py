# Copyright (c) mmgcp contributors. All rights reserved.
"""Paired statistics of the transfer benchmark: a variant against a baseline, seed by seed.

Runs of different variants with the same seed share the seed's data order and initialisation of
everything that is not pretrained, so the per-seed differences ``d_s = variant_s - baseline_s`` are
the unit of analysis: their mean, its Student-t 95% confidence interval (``n - 1`` degrees of
freedom) and the two-sided paired t-test p-value of "mean difference = 0".
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple

#: Significance level of the verdicts; the confidence intervals are ``1 - ALPHA``.
ALPHA = 0.05


def t_quantile(prob: float, dof: int) -> float:
    """The ``prob`` quantile of Student's t distribution with ``dof`` degrees of freedom."""
    from scipy.stats import t
    return float(t.ppf(prob, dof))


def t_two_sided_p(t_value: float, dof: int) -> float:
    """Two-sided tail probability ``P(|T| >= |t_value|)`` of Student's t with ``dof`` dof."""
    from scipy.stats import t
    return float(2.0 * t.sf(abs(t_value), dof))


def paired_difference(differences: Sequence[float], alpha: float = ALPHA) -> Dict[str, object]:
    """Mean, confidence interval and paired t-test of per-seed differences.

    Args:
        differences (Sequence[float]): ``variant - baseline`` for each seed both finished.
        alpha (float): The interval covers ``1 - alpha``. Defaults to 0.05.

    Returns:
        dict: ``n``, ``mean_diff``, ``std_diff`` (sample standard deviation), ``ci_low``,
        ``ci_high`` and ``p_value``. With ``n < 2`` there is no spread to test against: the
        interval and the p-value are None. With zero spread the interval is the point itself and
        the p-value is 0 (all differences equal and non-zero) or 1 (all zero).
    """
    values = [float(v) for v in differences]
    n = len(values)
    out: Dict[str, object] = dict(n=n, mean_diff=None, std_diff=None, ci_low=None, ci_high=None,
                                  p_value=None)
    if n == 0:
        return out
    mean = sum(values) / n
    out['mean_diff'] = mean
    if n < 2:
        return out
    std = math.sqrt(sum((v - mean)**2 for v in values) / (n - 1))
    out['std_diff'] = std
    sem = std / math.sqrt(n)
    if sem == 0.0:
        out.update(ci_low=mean, ci_high=mean, p_value=1.0 if mean == 0.0 else 0.0)
        return out
    half_width = t_quantile(1.0 - alpha / 2.0, n - 1) * sem
    out.update(ci_low=mean - half_width, ci_high=mean + half_width,
               p_value=t_two_sided_p(mean / sem, n - 1))
    return out


def verdict(comparison: dict, alpha: float = ALPHA) -> str:
    """``'higher'`` / ``'lower'`` when the paired t-test rejects equality at ``alpha``, else
    ``'no difference detected at n=<n>'``."""
    p_value = comparison.get('p_value')
    if p_value is not None and p_value < alpha and comparison['mean_diff'] != 0:
        return 'higher' if comparison['mean_diff'] > 0 else 'lower'
    return f"no difference detected at n={comparison['n']}"


def mean_interval(values: Sequence[float], alpha: float = ALPHA) -> Optional[tuple]:
    """Student-t ``1 - alpha`` confidence interval of the mean of ``values``; None for n < 2."""
    stats = paired_difference(values, alpha)
    if stats['ci_low'] is None:
        return None
    return stats['ci_low'], stats['ci_high']


def comparison_pairs(variants: Sequence[str], baseline: Optional[str] = 'gap',
                     scratch: Optional[str] = None) -> List[Tuple[str, str]]:
    """``(variant, baseline)`` pairs to compare: every variant against ``baseline`` and every
    pretrained variant (the baseline included) against ``scratch``. The from-scratch variant is
    not compared against ``baseline``: that would only repeat ``baseline`` vs ``scratch`` with
    the sign flipped."""
    pairs = []
    if baseline in variants:
        pairs += [(v, baseline) for v in variants if v not in (baseline, scratch)]
    if scratch in variants:
        pairs += [(v, scratch) for v in variants if v != scratch]
    return pairs


def compare_variants(rows: List[dict], metrics: Dict[str, List[str]],
                     pairs: Sequence[Tuple[str, str]]) -> List[dict]:
    """Paired comparisons of variants against baselines, per task and metric.

    Only seeds where both runs finished are paired; a task a variant has no runs of (the
    from-scratch control has no pretraining) is left out.

    Args:
        rows (list[dict]): One row per run with ``variant``, ``task``, ``seed``, ``state`` and the
            metric values (see :func:`mmgcp.benchmark.report.result_rows`).
        metrics (dict[str, list[str]]): Task -> metric keys to compare, in report order.
        pairs (Sequence[tuple[str, str]]): ``(variant, baseline)`` pairs, see
            :func:`comparison_pairs`.

    Returns:
        list[dict]: Keys ``variant``, ``baseline``, ``task``, ``metric``, ``n``, ``mean_diff``,
        ``std_diff``, ``ci_low``, ``ci_high``, ``p_value``, ``verdict`` and ``seeds`` (the paired
        seeds).
    """
    values: Dict[tuple, float] = {}
    has_runs = set()
    for row in rows:
        has_runs.add((row['variant'], row['task']))
        if row.get('state') != 'done':
            continue
        for metric in metrics.get(row['task'], []):
            value = row.get(metric)
            if isinstance(value, (int, float)) and math.isfinite(value):
                values[(row['variant'], row['task'], metric, row['seed'])] = float(value)
    comparisons = []
    for variant, baseline in pairs:
        for task, task_metrics in metrics.items():
            if (variant, task) not in has_runs or (baseline, task) not in has_runs:
                continue
            for metric in task_metrics:
                seeds = sorted(s for (v, t, m, s) in values
                               if (v, t, m) == (variant, task, metric)
                               and (baseline, task, metric, s) in values)
                entry = dict(variant=variant, baseline=baseline, task=task, metric=metric)
                entry.update(paired_difference([
                    values[(variant, task, metric, s)] - values[(baseline, task, metric, s)]
                    for s in seeds
                ]))
                entry['verdict'] = verdict(entry)
                entry['seeds'] = seeds
                comparisons.append(entry)
    return comparisons
