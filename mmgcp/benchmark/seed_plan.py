# Copyright (c) mmgcp contributors. All rights reserved.
"""How many seeds a comparison needs: a pilot's results.json and a target difference per metric
in, the seeds for the wanted power out (``tools/analysis/seeds_needed.py``)."""
import json
import math
import os.path as osp
from typing import Dict, List, Optional, Tuple

from .power import (
    MAX_SEEDS,
    check_max_seeds,
    check_probability,
    seeds_needed,
    std_upper_bound,
    t_test_power,
)
from .stats import ALPHA, POWER, format_value

#: Confidence of the upper bound of the pilot's standard deviation in the cautious column.
SD_BOUND_CONFIDENCE = 0.8


def parse_target(text: str) -> Tuple[str, float, bool]:
    """``'coco/bbox_mAP=0.007'`` -> ``('coco/bbox_mAP', 0.007, False)``; ``'mIoU=2%'`` ->
    ``('mIoU', 2.0, True)`` (relative: percent of the baseline's mean).

    Args:
        text (str): ``METRIC=TARGET``, TARGET an absolute difference in the metric's units or a
            percentage of the baseline's mean.

    Returns:
        tuple: The metric key, the target (absolute, or percent when relative) and whether it is
        relative.
    """
    metric, sep, value = str(text).rpartition('=')
    relative = value.strip().endswith('%')
    number = value.strip().rstrip('%').strip()
    try:
        target = float(number)
    except ValueError:
        target = float('nan')
    if not sep or not metric or not math.isfinite(target) or target <= 0:
        raise ValueError(f'target {text!r}: expected METRIC=TARGET with TARGET a positive '
                         'difference in the metric\'s units (coco/bbox_mAP=0.007) or a percent '
                         'of the baseline\'s mean (coco/bbox_mAP=2%).')
    return metric, target, relative


def load_results(path: str) -> dict:
    """Read a benchmark's results.json (the pilot)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} does not exist; pass the results.json a benchmark run '
                                'wrote (<work_dir>/results.json).')
    with open(path) as f:
        try:
            results = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f'{path} is not JSON ({err}); pass a results.json.') from None
    if not isinstance(results, dict) or 'comparisons' not in results:
        raise ValueError(f'{path} has no `comparisons`: it is not a results.json of '
                         'tools/benchmark_transfer.py.')
    return results


def _baseline_mean(results: dict, comparison: dict) -> Optional[float]:
    for entry in results.get('summary', []):
        if (entry.get('variant'), entry.get('task'), entry.get('metric')) == (
                comparison['baseline'], comparison['task'], comparison['metric']):
            return entry.get('mean')
    return None


def _alpha_of(results: dict, comparison: dict) -> float:
    """The level the report's MDE used: ``alpha / m`` of the comparison's family (recorded as
    ``alpha_mde``; for a results.json written before it was recorded, the whole report is the
    family)."""
    if comparison.get('alpha_mde') is not None:
        return float(comparison['alpha_mde'])
    alpha = (results.get('statistics') or {}).get('alpha', ALPHA)
    tested = [c for c in results['comparisons'] if c.get('p_value') is not None]
    return alpha / max(1, len(tested))


def plan_seeds(results: dict, targets: Dict[str, Tuple[float, bool]],
               power: Optional[float] = None, max_seeds: int = MAX_SEEDS) -> List[dict]:
    """Seeds each comparison of the target metrics needs to detect the target difference.

    The pilot's standard deviation of the paired differences is taken as the true one; a second
    answer takes its one-sided 80% upper confidence bound instead. The test is the report's:
    two-sided paired t-test at ``alpha / m`` of the comparison's family.

    Args:
        results (dict): A results.json (:func:`load_results`).
        targets (dict[str, tuple[float, bool]]): Metric -> (target, relative) as
            :func:`parse_target` gives.
        power (float, optional): Wanted power; defaults to the report's (0.8).
        max_seeds (int): Largest number of seeds searched. Defaults to :data:`MAX_SEEDS`.

    Returns:
        list[dict]: One per comparison of a target metric: ``variant``, ``baseline``, ``task``,
        ``metric``, ``varies``, ``n`` (the pilot's seeds), ``std_diff``, ``target`` (absolute),
        ``target_text``, ``alpha``, ``power``, ``power_now`` (at the pilot's n), ``seeds`` and
        ``seeds_sd_bound`` (None when more than ``max_seeds``), ``power_at_max`` (when more),
        and ``note`` (why nothing could be planned, else None).
    """
    power = check_probability('power', (results.get('statistics') or {}).get('power', POWER)
                              if power is None else power)
    check_max_seeds(max_seeds)
    available = sorted({c['metric'] for c in results['comparisons']})
    missing = sorted(set(targets) - set(available))
    if missing:
        raise KeyError(f'no comparison of {missing} in the results; the compared metrics are '
                       f'{available}.')
    plan = []
    for comparison in results['comparisons']:
        if comparison['metric'] not in targets:
            continue
        target, relative = targets[comparison['metric']]
        row = dict(variant=comparison['variant'], baseline=comparison['baseline'],
                   task=comparison['task'], metric=comparison['metric'],
                   varies=comparison.get('varies', ['finetune_seed']), n=comparison['n'],
                   std_diff=comparison.get('std_diff'), target=None, target_text=None,
                   power=power, alpha=None,
                   power_now=None, seeds=None, seeds_sd_bound=None, note=None)
        plan.append(row)
        if relative:
            mean = _baseline_mean(results, comparison)
            if mean is None or mean == 0:
                row['note'] = f"no mean of {comparison['baseline']} to take {target:g}% of"
                continue
            row['target'] = abs(mean) * target / 100.0
            row['target_text'] = f"{target:g}% of {format_value(mean)} = {row['target']:.3g}"
        else:
            row['target'] = target
        row['target_text'] = row['target_text'] or f"{row['target']:g}"
        if row['varies'] == []:
            row['note'] = ('fixed checkpoints: more seeds do not change one evaluation of a '
                           'fixed checkpoint; the question needs independently pretrained ones')
            continue
        std = row['std_diff']
        if comparison.get('p_value') is None or not std:
            row['note'] = ('no spread from the pilot to plan with ('
                           + (comparison.get('reason') or 'not tested') + ')')
            continue
        alpha = row['alpha'] = _alpha_of(results, comparison)
        row['power_now'] = t_test_power(row['target'] / std, row['n'], alpha)
        needed = seeds_needed(std, row['target'], alpha, power, max_seeds)
        row['seeds'] = needed['seeds']
        if needed['seeds'] is None:
            row['power_at_max'] = needed['power']
        bound = std_upper_bound(std, row['n'], SD_BOUND_CONFIDENCE)
        row['seeds_sd_bound'] = seeds_needed(bound, row['target'], alpha, power,
                                             max_seeds)['seeds']
    return plan


def _seeds_text(seeds: Optional[int], max_seeds: int) -> str:
    return str(seeds) if seeds is not None else f'> {max_seeds}'


def seed_plan_table(plan: List[dict], max_seeds: int = MAX_SEEDS) -> str:
    """The plan as a Markdown table, followed by the assumptions it makes."""
    power = plan[0]['power'] if plan else POWER
    bound = f'{100 * SD_BOUND_CONFIDENCE:g}%'
    lines = ['| variant | baseline | task: metric | target | pilot n | SD of diffs | alpha | '
             f'power at pilot n | seeds for {100 * power:g}% power | if SD at its {bound} '
             'upper bound |',
             '|---|---|---|---|---|---|---|---|---|---|']
    notes = []
    for row in plan:
        name = f"{row['variant']} | {row['baseline']} | {row['task']}: {row['metric']}"
        std = '-' if row['std_diff'] is None else f"{row['std_diff']:.3g}"
        target = row['target_text'] or '-'
        if row['note'] is not None:
            lines.append(f"| {name} | {target} | {row['n']} | {std} | - | - | - | - |")
            notes.append(f"{row['variant']}-{row['baseline']} {row['task']}: {row['metric']}: "
                         f"{row['note']}.")
            continue
        seeds = _seeds_text(row['seeds'], max_seeds)
        if row['seeds'] is None:
            seeds += f" (power {row['power_at_max']:.2f} at {max_seeds})"
        lines.append(f"| {name} | {target} | {row['n']} | {std} | {row['alpha']:.2g} | "
                     f"{row['power_now']:.2f} | {seeds} | "
                     f"{_seeds_text(row['seeds_sd_bound'], max_seeds)} |")
    varies = sorted({', '.join(r['varies']) for r in plan if r['varies']})
    assumptions = [
        'Seeds: paired runs per variant (each seed runs the variant and its baseline).',
        'Assumes: the pilot\'s SD of the paired differences is the true one (from few seeds it '
        f'is itself uncertain: the last column takes its one-sided {bound} upper confidence '
        'bound); the differences are independent across seeds and roughly normal; the true '
        'difference equals the target; the schedule, data and family of tests stay as in the '
        'pilot (alpha = alpha/m of the comparison\'s family, as in the report\'s MDE).',
        f'n varies with: {"; ".join(varies) or "nothing"}. A pilot that varies fine-tuning seeds '
        'only has no pretraining variance in its SD: a question about independently '
        'pretrained checkpoints needs a pilot that pretrains per seed.',
        f'More than {max_seeds} seeds: the target is small against the seed-to-seed spread; '
        'lower the spread (longer schedules, more evaluation data) or ask about a larger '
        'difference.',
    ]
    return '\n'.join(lines + [''] + notes + assumptions)
