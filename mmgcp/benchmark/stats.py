# Copyright (c) mmgcp contributors. All rights reserved.
"""Paired statistics of the transfer benchmark: a variant against a baseline, seed by seed.

Runs of different variants with the same seed share the seed's data order and initialisation of
everything that is not pretrained, so the per-seed differences ``d_s = variant_s - baseline_s`` are
the unit of analysis: their mean, its Student-t confidence interval (``n - 1`` degrees of
freedom) and the two-sided paired t-test p-value of "mean difference = 0". The p-values of a
report are Holm-adjusted over the family each comparison belongs to, the verdict follows the
adjusted value, and each comparison states its minimum detectable effect (see
``docs/statistics.md``).
"""
import fnmatch
import math
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from .power import minimum_detectable_effect

#: Significance level of the verdicts; the confidence intervals are ``1 - ALPHA``.
ALPHA = 0.05
#: Power the minimum detectable effect and the seed planner are stated at.
POWER = 0.8
#: What a comparison's replicates can differ in, in the order they are reported.
VARIES_ORDER = ('pretrain_seed', 'finetune_seed')
#: Relative spread of the differences (to their largest magnitude) below which they count as
#: identical: far above float rounding, far below any metric's reporting precision.
NO_SPREAD_TOLERANCE = 1e-9
#: Comparison keys a family of tests can be split by (``family='task+baseline'``).
FAMILY_KEYS = ('task', 'baseline', 'variant', 'metric')
#: Keys of an experiment config's ``statistics`` dict, with what they mean.
STATISTICS_KEYS = {
    'alpha': f'float in (0, 1): family-wise error rate of the verdicts; the intervals cover '
             f'1 - alpha (default {ALPHA})',
    'power': f'float in (0, 1): power of the minimum detectable effect (default {POWER})',
    'family': "'report' (default: every test of the report is one family) or comparison keys "
              f"joined by '+' from {FAMILY_KEYS}: one family per value, e.g. 'task' or "
              "'task+baseline'",
}
#: Known ranges of metrics, as ``fnmatch`` patterns of the metric key -> (lowest, highest).
#: mmpretrain's accuracies and mmseg's IoU / accuracies are percentages, mmdet's COCO mAPs
#: fractions.
METRIC_RANGES = {
    'accuracy/top*': (0.0, 100.0),
    'mIoU': (0.0, 100.0),
    'mAcc': (0.0, 100.0),
    'aAcc': (0.0, 100.0),
    'coco/*_mAP*': (0.0, 1.0),
}


def check_statistics(spec: Optional[dict]) -> Dict[str, object]:
    """Validate an experiment's ``statistics`` dict and fill in the defaults.

    Args:
        spec (dict, optional): Keys of :data:`STATISTICS_KEYS`; None for the defaults.

    Returns:
        dict: ``alpha``, ``power`` and ``family``.
    """
    spec = dict(spec or {})
    unknown = sorted(set(spec) - set(STATISTICS_KEYS))
    if unknown:
        raise KeyError(f'statistics: unknown key(s) {unknown}; the keys are '
                       + '; '.join(f'{k}: {v}' for k, v in STATISTICS_KEYS.items()) + '.')
    out = dict(alpha=spec.get('alpha', ALPHA), power=spec.get('power', POWER),
               family=spec.get('family', 'report'))
    for key in ('alpha', 'power'):
        value = out[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not 0.0 < value < 1.0:
            raise ValueError(f'statistics.{key}={value!r}: expected a number strictly between 0 '
                             f'and 1 ({STATISTICS_KEYS[key]}).')
        out[key] = float(value)
    family = out['family']
    parts = family.split('+') if isinstance(family, str) else [family]
    if family != 'report' and not all(p in FAMILY_KEYS for p in parts):
        raise ValueError(f'statistics.family={family!r}: expected {STATISTICS_KEYS["family"]}.')
    return out


def metric_range(metric: str) -> Optional[Tuple[float, float]]:
    """The known range of a metric (:data:`METRIC_RANGES`), None when unknown."""
    for pattern, bounds in METRIC_RANGES.items():
        if fnmatch.fnmatchcase(metric, pattern):
            return bounds
    return None


def difference_range(metric: str) -> Optional[Tuple[float, float]]:
    """The range a difference of two values of ``metric`` lies in, None when unknown."""
    bounds = metric_range(metric)
    if bounds is None:
        return None
    width = bounds[1] - bounds[0]
    return -width, width


def ordered_varies(lists: Iterable[Sequence[str]]) -> List[str]:
    """The union of what runs vary with, in :data:`VARIES_ORDER`."""
    union = set()
    for varies in lists:
        unknown = set(varies) - set(VARIES_ORDER)
        if unknown:
            raise ValueError(f'run.varies holds {sorted(unknown)}; expected a subset of '
                             f'{list(VARIES_ORDER)}.')
        union.update(varies)
    return [v for v in VARIES_ORDER if v in union]


def t_quantile(prob: float, dof: int) -> float:
    """The ``prob`` quantile of Student's t distribution with ``dof`` degrees of freedom."""
    from scipy.stats import t
    return float(t.ppf(prob, dof))


def t_two_sided_p(t_value: float, dof: int) -> float:
    """Two-sided tail probability ``P(|T| >= |t_value|)`` of Student's t with ``dof`` dof."""
    from scipy.stats import t
    return float(2.0 * t.sf(abs(t_value), dof))


def format_value(value: float, scale: Optional[float] = None) -> str:
    """Two decimals for percentages, three for fractions such as COCO's mAP (chosen by ``scale``,
    default the value itself, so a mean and its std get the same precision)."""
    scale = value if scale is None else scale
    return f'{value:.2f}' if abs(scale) >= 1 else f'{value:.3f}'


def clip_interval(low: float, high: float, bounds: Optional[Tuple[float, float]],
                  values: Sequence[float] = ()) -> Dict[str, object]:
    """An interval within a metric's range.

    The true mean lies in the range, so clipping loses no coverage. Observed ``values`` outside
    the range mean the metric is on another scale than the table of ranges assumes: then the
    interval is left as it is.

    Returns:
        dict: ``ci_low`` and ``ci_high``; with ``ci_unclipped`` ([low, high]) when clipped, or
        ``range_note`` when values lie outside the range.
    """
    if bounds is None:
        return dict(ci_low=low, ci_high=high)
    lowest, highest = bounds
    if any(not lowest <= v <= highest for v in values):
        return dict(ci_low=low, ci_high=high,
                    range_note=f'values outside the known range [{lowest:g}, {highest:g}]: '
                               'interval not clipped')
    out = dict(ci_low=max(low, lowest), ci_high=min(high, highest))
    if (out['ci_low'], out['ci_high']) != (low, high):
        out['ci_unclipped'] = [low, high]
    return out


def paired_difference(differences: Sequence[float], alpha: float = ALPHA,
                      bounds: Optional[Tuple[float, float]] = None) -> Dict[str, object]:
    """Mean, confidence interval and paired t-test of per-seed differences.

    Args:
        differences (Sequence[float]): ``variant - baseline`` for each seed both finished.
        alpha (float): The interval covers ``1 - alpha``. Defaults to 0.05.
        bounds (tuple[float, float], optional): Range the differences lie in; the interval is
            clipped to it (:func:`clip_interval`).

    Returns:
        dict: ``n``, ``mean_diff``, ``std_diff`` (sample standard deviation), ``ci_low``,
        ``ci_high``, ``p_value`` and ``reason``. Without spread to test against (``n < 2``, or
        every difference the same) the interval and the p-value are None and ``reason`` says
        why; else ``reason`` is None.
    """
    values = [float(v) for v in differences]
    n = len(values)
    out: Dict[str, object] = dict(n=n, mean_diff=None, std_diff=None, ci_low=None, ci_high=None,
                                  p_value=None, reason=None)
    if n == 0:
        out['reason'] = 'no seed where both finished'
        return out
    mean = sum(values) / n
    out['mean_diff'] = mean
    if n < 2:
        out['reason'] = 'n=1: a paired test needs 2 or more seeds'
        return out
    std = math.sqrt(sum((v - mean)**2 for v in values) / (n - 1))
    out['std_diff'] = std
    sem = std / math.sqrt(n)
    # Identical differences give t = inf: a verdict from one number repeated, not evidence.
    # Equal differences of unequal (rounded) metrics, 0.2 - 0.1 and 0.3 - 0.2, differ by
    # float rounding only (~1e-17): a spread that small is none.
    if std <= NO_SPREAD_TOLERANCE * max(abs(v) for v in values):
        out['reason'] = 'no spread: every seed gave the same difference, cannot test'
        return out
    half_width = t_quantile(1.0 - alpha / 2.0, n - 1) * sem
    out.update(clip_interval(mean - half_width, mean + half_width, bounds))
    out['p_value'] = t_two_sided_p(mean / sem, n - 1)
    return out


def holm(p_values: Sequence[float]) -> List[float]:
    """Holm's step-down adjusted p-values (family-wise error control for any dependence).

    Sorted ascending, the ``k``-th smallest of ``m`` p-values becomes
    ``max_{j <= k} min(1, (m - j + 1) p_(j))``; ties get the same adjusted value.

    Args:
        p_values (Sequence[float]): The unadjusted p-values of one family, each in [0, 1].

    Returns:
        list[float]: The adjusted p-values, in the input order.
    """
    values = [float(p) for p in p_values]
    for p in values:
        if not 0.0 <= p <= 1.0:  # also rejects NaN
            raise ValueError(f'p-values must lie in [0, 1], got {p!r} in {values}.')
    count = len(values)
    adjusted = [0.0] * count
    running = 0.0
    for rank, index in enumerate(sorted(range(count), key=values.__getitem__)):
        running = max(running, min(1.0, (count - rank) * values[index]))
        adjusted[index] = running
    return adjusted


def family_of(comparison: dict, family: str) -> str:
    """The label of the family a comparison belongs to: ``'report'`` or e.g.
    ``'task=coco, baseline=gap'`` for ``family='task+baseline'``."""
    if family == 'report':
        return 'report'
    return ', '.join(f'{key}={comparison[key]}' for key in family.split('+'))


def verdict(comparison: dict, alpha: float = ALPHA) -> str:
    """The comparison in words.

    ``'higher'`` / ``'lower'`` when the Holm-adjusted p-value is at most ``alpha``; ``'no
    difference detected (MDE ±x at n=N)'`` when not (with ``, beyond the metric's range`` when
    no difference the metric can take is that large); ``'not tested: <reason>'`` without a test.
    """
    if comparison.get('p_holm') is None:
        return f"not tested: {comparison.get('reason') or 'no p-value'}"
    if comparison['p_holm'] <= alpha and comparison['mean_diff'] != 0:
        return 'higher' if comparison['mean_diff'] > 0 else 'lower'
    mde = comparison.get('mde')
    mde_text = '-' if mde is None else '±' + format_value(mde)
    bounds = difference_range(comparison.get('metric', ''))
    beyond = (", beyond the metric's range" if mde is not None and bounds is not None
              and mde >= bounds[1] else '')
    return f"no difference detected (MDE {mde_text} at n={comparison['n']}{beyond})"


def mean_interval(values: Sequence[float], alpha: float = ALPHA,
                  bounds: Optional[Tuple[float, float]] = None) -> Optional[dict]:
    """Student-t ``1 - alpha`` confidence interval of the mean of ``values``, within ``bounds``
    (:func:`clip_interval`); None for n < 2 or no spread."""
    stats = paired_difference(values, alpha)
    if stats['ci_low'] is None:
        return None
    return clip_interval(stats['ci_low'], stats['ci_high'], bounds, values)


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


def _fixed_reason(variant_varies: List[str], baseline_varies: List[str]) -> Optional[str]:
    """Why a comparison with a fixed-checkpoint side is not tested (None when neither is)."""
    if variant_varies and baseline_varies:
        return None
    if not variant_varies and not baseline_varies:
        return 'fixed checkpoints: one evaluation each, nothing varies with the seed'
    return 'one side is one evaluation of a fixed checkpoint: no pairing by seed'


def adjust_comparisons(comparisons: List[dict], statistics: Optional[dict] = None) -> List[dict]:
    """Holm-adjust the comparisons' p-values per family, add the minimum detectable effect and
    the verdict (in place).

    Every comparison gains ``family`` (its label), ``tested`` and ``verdict``; each tested one
    ``family_size`` (``m``, the tested comparisons of its family), ``p_holm``, ``alpha_mde``
    (``alpha / m``, see ``docs/statistics.md``), ``power`` and ``mde``, untested ones None for
    these.

    Args:
        comparisons (list[dict]): From :func:`compare_variants`, with ``p_value`` and ``reason``.
        statistics (dict, optional): The experiment's ``statistics`` (:func:`check_statistics`).

    Returns:
        list[dict]: ``comparisons``.
    """
    settings = check_statistics(statistics)
    families: Dict[str, List[dict]] = {}
    for comparison in comparisons:
        comparison['family'] = family_of(comparison, settings['family'])
        comparison['tested'] = comparison['p_value'] is not None
        if comparison['tested']:
            families.setdefault(comparison['family'], []).append(comparison)
    for members in families.values():
        for comparison, p_holm in zip(members, holm([c['p_value'] for c in members])):
            alpha_mde = settings['alpha'] / len(members)
            comparison.update(family_size=len(members), p_holm=p_holm, alpha_mde=alpha_mde,
                              power=settings['power'],
                              mde=minimum_detectable_effect(comparison['std_diff'],
                                                            comparison['n'], alpha_mde,
                                                            settings['power']))
    for comparison in comparisons:
        if not comparison['tested']:
            comparison.update(family_size=None, p_holm=None, alpha_mde=None, power=None,
                              mde=None)
        comparison['verdict'] = verdict(comparison, settings['alpha'])
    return comparisons


def compare_variants(rows: List[dict], metrics: Dict[str, List[str]],
                     pairs: Sequence[Tuple[str, str]],
                     varies: Optional[Dict[Tuple[str, str], List[str]]] = None,
                     statistics: Optional[dict] = None) -> List[dict]:
    """Paired comparisons of variants against baselines, per task and metric.

    Only seeds where both runs finished are paired; a task a variant has no runs of (the
    from-scratch control has no pretraining) is left out. A side whose runs vary with nothing
    (one evaluation of a fixed checkpoint) is never tested.

    Args:
        rows (list[dict]): One row per run with ``variant``, ``task``, ``seed``, ``state`` and the
            metric values (see :func:`mmgcp.benchmark.report.result_rows`).
        metrics (dict[str, list[str]]): Task -> metric keys to compare, in report order.
        pairs (Sequence[tuple[str, str]]): ``(variant, baseline)`` pairs, see
            :func:`comparison_pairs`.
        varies (dict, optional): ``(variant, task)`` -> what its runs vary with (a subset of
            :data:`VARIES_ORDER`; ``[]`` for a fixed checkpoint's evaluation). Defaults to
            ``['finetune_seed']`` for every run.
        statistics (dict, optional): The experiment's ``statistics`` (:func:`check_statistics`).

    Returns:
        list[dict]: Keys ``variant``, ``baseline``, ``task``, ``metric``, ``varies``, ``n``,
        ``mean_diff``, ``std_diff``, ``ci_low``, ``ci_high`` (and ``ci_unclipped`` when clipped
        to the metric's range), ``p_value``, ``reason`` (why not tested, else None), ``seeds``
        (the paired seeds) and the fields of :func:`adjust_comparisons` (``tested``, ``family``,
        ``family_size``, ``p_holm``, ``alpha_mde``, ``power``, ``mde``, ``verdict``).
    """
    settings = check_statistics(statistics)
    varies = varies or {}
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
            sides = [varies.get((name, task), ['finetune_seed']) for name in (variant, baseline)]
            fixed_reason = _fixed_reason(*sides)
            for metric in task_metrics:
                seeds = [s for (v, t, m, s) in values if (v, t, m) == (variant, task, metric)
                         and (baseline, task, metric, s) in values]
                seeds.sort(key=lambda s: (s is not None, s))
                entry = dict(variant=variant, baseline=baseline, task=task, metric=metric,
                             varies=ordered_varies(sides))
                differences = [values[(variant, task, metric, s)]
                               - values[(baseline, task, metric, s)] for s in seeds]
                if fixed_reason is not None:
                    differences = differences[:1]  # the one evaluation, never a test
                entry.update(paired_difference(differences, settings['alpha'],
                                               difference_range(metric)))
                if fixed_reason is not None:
                    entry['reason'] = fixed_reason
                entry['seeds'] = seeds
                comparisons.append(entry)
    return adjust_comparisons(comparisons, settings)
