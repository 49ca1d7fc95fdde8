# Copyright (c) mmgcp contributors. All rights reserved.
"""The optional robustness stage of the transfer benchmark: every finished run's checkpoint is
evaluated under corruptions with ``tools/analysis/robustness.py`` (in its own process, as every
run of the benchmark); the results are summarised in ``<work_dir>/robustness.json`` and plotted
in ``<work_dir>/robustness.png``."""
import json
import os
import os.path as osp
from typing import Dict, List, Union

from mmengine.config import Config

from mmgcp.benchmark.experiment import Run
from mmgcp.utils import log_tail

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


def _check_spec(spec: dict, variants) -> tuple:
    unknown = sorted(set(spec) - set(ROBUSTNESS_KEYS))
    if unknown:
        raise KeyError(f'unknown key(s) {unknown} in `robustness`; allowed: {ROBUSTNESS_KEYS}.')
    corruptions = list(spec.get('corruptions') or CORRUPTIONS)
    severities = [int(s) for s in (spec.get('severities') or [1, 2, 3, 4, 5])]
    check_conditions(corruptions, severities)
    baseline = spec.get('baseline')
    if baseline is not None and baseline not in variants:
        raise KeyError(f'robustness.baseline={baseline!r} is not a variant; choose from '
                       f'{sorted(variants)} or leave it out.')
    return corruptions, severities, int(spec.get('seed', 0)), baseline


def _primary_metric(exp: Config, run: Run) -> str:
    task = (exp.get('tasks') or {}).get(run.task) or {}
    return task.get('primary_metric') or run.metrics[0]


def _up_to_date(path: str, checkpoint: str, metric: str, corruptions: List[str],
                severities: List[int], seed: int) -> bool:
    try:
        result = load_result(path)
    except (OSError, ValueError):
        return False
    done = {(r['corruption'], int(r['severity'])) for r in result['results']}
    return (result.get('checkpoint') == checkpoint and result.get('metric') == metric
            and result.get('seed') == seed and 'curve' in result
            and all((c, s) in done for c in corruptions for s in severities))


def run_robustness_stage(exp: Config, runs: List[Run], statuses: Union[Dict[str, dict],
                                                                          List[dict]],
                         tools, work_dir: str) -> List[str]:
    """Evaluate every finished run under corruptions and write the stage's summary and plot.

    Runs whose results are already complete (same checkpoint, metric, seed, corruptions and
    severities) are not evaluated again. Failures are recorded, not raised.

    Args:
        exp (Config): The experiment; its ``robustness`` dict (see :data:`ROBUSTNESS_KEYS`)
            switches the stage on; None or empty skips it.
        runs (list[Run]): The experiment's runs.
        statuses (dict | list): Run statuses, by ``run.name`` or in the order of ``runs``; runs
            whose state is ``'done'`` with a ``'checkpoint'`` are evaluated.
        tools (ToolLauncher): Launches ``tools/analysis/robustness.py``.
        work_dir (str): The benchmark's work dir.

    Returns:
        list[str]: The written files (``robustness.json``, ``robustness.png``); empty when the
        stage is off.
    """
    spec = exp.get('robustness')
    if not spec:
        return []
    corruptions, severities, seed, baseline = _check_spec(spec, exp.get('variants') or {})
    if isinstance(statuses, dict):
        status_of = [statuses.get(run.name, {}) for run in runs]
    else:
        status_of = list(statuses)
    entries, results = [], {}
    for run, status in zip(runs, status_of):
        if status.get('state') != 'done' or not status.get('checkpoint'):
            continue
        metric = _primary_metric(exp, run)
        out_dir = osp.join(run.work_dir, 'robustness')
        json_path = osp.join(out_dir, 'robustness.json')
        entry = dict(variant=run.variant, task=run.task, seed=run.seed, metric=metric,
                     result_file=json_path)
        if not _up_to_date(json_path, status['checkpoint'], metric, corruptions, severities,
                           seed):
            log_path = osp.join(out_dir, 'robustness.log')
            cmd = [tools.python, 'tools/analysis/robustness.py', run.config, status['checkpoint'],
                   '--work-dir', out_dir, '--out-dir', out_dir, '--metric', metric,
                   '--seed', str(seed), '--corruptions', *corruptions,
                   '--severities', *[str(s) for s in severities]]
            if run.cfg_options:
                cmd += ['--cfg-options', *run.cfg_options]
            call = tools.call(cmd, log_path)
            if call['returncode'] != 0 or not osp.isfile(json_path):
                entries.append(dict(entry, state='failed', error=log_tail(log_path)))
                continue
        result = load_result(json_path)
        results[run.name] = result
        entries.append(dict(entry, state='done', clean=result['clean'].get(metric),
                            curve=severity_curve(metric_table(result, metric),
                                                 result['clean'].get(metric))))

    for entry in entries:
        if entry['state'] != 'done' or not any(s > 0 for s in severities):
            continue
        result = results[f"{entry['variant']}/{entry['task']}/seed{entry['seed']}"]
        base = results.get(f"{baseline}/{entry['task']}/seed{entry['seed']}") if baseline else None
        metric = entry['metric']
        entry['summary'] = summarize_robustness(
            metric_table(result, metric), entry['clean'], metric_scale(metric),
            metric_table(base, metric) if base is not None else None)

    os.makedirs(work_dir, exist_ok=True)
    json_path = osp.join(work_dir, 'robustness.json')
    with open(json_path + '.tmp', 'w') as f:
        json.dump(dict(corruptions=corruptions, severities=severities, seed=seed,
                       baseline=baseline, entries=entries), f, indent=2)
    os.replace(json_path + '.tmp', json_path)
    written = [json_path]

    seeds = {entry['seed'] for entry in entries}
    groups: Dict[str, Dict[str, dict]] = {}
    for entry in entries:
        if entry['state'] == 'done':
            label = entry['variant'] if len(seeds) == 1 else f"{entry['variant']}/s{entry['seed']}"
            run_name = f"{entry['variant']}/{entry['task']}/seed{entry['seed']}"
            groups.setdefault(entry['task'], {})[label] = results[run_name]
    if groups:
        written.append(plot_robustness_grid(groups, osp.join(work_dir, 'robustness.png')))
    return written
