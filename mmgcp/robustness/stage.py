# Copyright (c) mmgcp contributors. All rights reserved.
"""The optional robustness stage of the transfer benchmark, as data: the conditions an
experiment asks for (:func:`stage_conditions`), whether a run's evaluation under them is
complete (:func:`is_complete`), and the summary of every run's evaluation with the stage's plot
(:func:`summarize_stage`). Each run is evaluated with ``tools/analysis/robustness.py`` by the
benchmark, in whatever process executes the run; nothing here knows how runs are launched."""
import json
import os
import os.path as osp
from typing import Dict, List, Optional

from .corruptions import CORRUPTIONS, check_conditions
from .metrics import metric_scale, severity_curve, summarize_robustness
from .plot import plot_robustness_grid
from .results import load_result, metric_table

#: Keys of the experiment's ``robustness`` dict.
ROBUSTNESS_KEYS = {
    'corruptions': 'corruption names (default: the 15 standard ones)',
    'severities': 'severities 0-5 (default: 1-5)',
    'seed': 'base seed of the corruptions, the same for every run (default: 0)',
    'baseline': 'variant whose errors normalise the corruption errors (mCE), e.g. \'gap\'',
}


def stage_conditions(spec: dict, variants: Optional[List[str]] = None) -> dict:
    """The validated conditions of an experiment's ``robustness`` dict.

    Args:
        spec (dict): The experiment's ``robustness`` (:data:`ROBUSTNESS_KEYS`).
        variants (list[str], optional): The experiment's variants, to check ``baseline``.

    Returns:
        dict: ``corruptions``, ``severities``, ``seed`` and ``baseline``.
    """
    unknown = sorted(set(spec) - set(ROBUSTNESS_KEYS))
    if unknown:
        raise KeyError(f'unknown key(s) {unknown} in `robustness`; allowed: {ROBUSTNESS_KEYS}.')
    corruptions = list(spec.get('corruptions') or CORRUPTIONS)
    severities = [int(s) for s in (spec.get('severities') or [1, 2, 3, 4, 5])]
    check_conditions(corruptions, severities)
    baseline = spec.get('baseline')
    if baseline is not None and variants is not None and baseline not in variants:
        raise KeyError(f'robustness.baseline={baseline!r} is not a variant; choose from '
                       f'{sorted(variants)} or leave it out.')
    return dict(corruptions=corruptions, severities=severities, seed=int(spec.get('seed', 0)),
                baseline=baseline)


def is_complete(path: str, checkpoint: str, metric: str, conditions: dict) -> bool:
    """Whether ``path`` holds the evaluation of ``checkpoint`` under every condition."""
    try:
        result = load_result(path)
    except (OSError, ValueError):
        return False
    done = {(r['corruption'], int(r['severity'])) for r in result['results']}
    return (result.get('checkpoint') == checkpoint and result.get('metric') == metric
            and result.get('seed') == conditions['seed'] and 'curve' in result
            and all((c, s) in done for c in conditions['corruptions']
                    for s in conditions['severities']))


def summarize_stage(entries: List[dict], conditions: dict, work_dir: str) -> List[str]:
    """Summarise every run's evaluation under corruptions and plot them.

    Args:
        entries (list[dict]): One per run: ``variant``, ``task``, ``seed``, ``metric``,
            ``result_file`` and ``state`` (``'done'`` when ``result_file`` holds the run's
            evaluation; otherwise ``error`` says why not).
        conditions (dict): From :func:`stage_conditions`.
        work_dir (str): Where ``robustness.json`` and ``robustness.png`` go.

    Returns:
        list[str]: The written files.
    """
    results: Dict[tuple, dict] = {}
    rows = []
    for entry in entries:
        entry = dict(entry)
        if entry['state'] == 'done':
            result = load_result(entry['result_file'])
            key = (entry['variant'], entry['task'], entry['seed'])
            results[key] = result
            entry.update(clean=result['clean'].get(entry['metric']),
                         curve=severity_curve(metric_table(result, entry['metric']),
                                              result['clean'].get(entry['metric'])))
        rows.append(entry)
    baseline = conditions.get('baseline')
    for entry in rows:
        if entry['state'] != 'done' or not any(s > 0 for s in conditions['severities']):
            continue
        metric = entry['metric']
        result = results[(entry['variant'], entry['task'], entry['seed'])]
        base = results.get((baseline, entry['task'], entry['seed'])) if baseline else None
        entry['summary'] = summarize_robustness(
            metric_table(result, metric), entry['clean'], metric_scale(metric),
            metric_table(base, metric) if base is not None else None)

    os.makedirs(work_dir, exist_ok=True)
    json_path = osp.join(work_dir, 'robustness.json')
    with open(json_path + '.tmp', 'w') as f:
        json.dump(dict(conditions, entries=rows), f, indent=2)
    os.replace(json_path + '.tmp', json_path)
    written = [json_path]
    seeds = {entry['seed'] for entry in rows}
    groups: Dict[str, Dict[str, dict]] = {}
    for entry in rows:
        if entry['state'] == 'done':
            label = entry['variant'] if len(seeds) == 1 else f"{entry['variant']}/s{entry['seed']}"
            groups.setdefault(entry['task'], {})[label] = results[
                (entry['variant'], entry['task'], entry['seed'])]
    if groups:
        written.append(plot_robustness_grid(groups, osp.join(work_dir, 'robustness.png')))
    return written
