# Copyright (c) mmgcp contributors. All rights reserved.
"""Reading and writing robustness result files (``robustness.json`` / ``robustness.csv``)."""
import csv
import json
import math
import os
import os.path as osp
from typing import List

from .metrics import Table


def metric_table(result: dict, metric: str) -> Table:
    """``{corruption: {severity: value}}`` of one metric from a result dict's ``results`` rows."""
    table: Table = {}
    for row in result['results']:
        value = row['metrics'].get(metric)
        if isinstance(value, (int, float)):
            table.setdefault(row['corruption'], {})[int(row['severity'])] = float(value)
    if not table:
        raise KeyError(f'no results for metric {metric!r}; the rows have '
                       f"{sorted({k for r in result['results'] for k in r['metrics']})}.")
    return table


def load_result(path: str) -> dict:
    """Load a ``robustness.json`` written by ``tools/analysis/robustness.py``."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} does not exist; write it with '
                                '`python tools/analysis/robustness.py CONFIG CHECKPOINT`.')
    with open(path) as f:
        result = json.load(f)
    if 'results' not in result or 'metric' not in result:
        raise ValueError(f'{path} is not a robustness result file (no `results` / `metric`).')
    return result


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_result(result: dict, json_path: str, csv_path: str) -> List[str]:
    """Write the result as JSON (everything) and CSV (one row per clean / corruption x severity
    with every scalar metric), atomically. Returns the two paths."""
    os.makedirs(osp.dirname(osp.abspath(json_path)), exist_ok=True)
    tmp = json_path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(_json_safe(result), f, indent=2)
    os.replace(tmp, json_path)

    rows = [dict(corruption='clean', severity=0, **result.get('clean', {}))]
    rows += [dict(corruption=r['corruption'], severity=r['severity'], **r['metrics'])
             for r in result['results']]
    columns = ['corruption', 'severity']
    for row in rows:
        columns += [k for k, v in row.items()
                    if k not in columns and isinstance(v, (int, float, str))]
    tmp = csv_path + '.tmp'
    with open(tmp, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction='ignore')
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, csv_path)
    return [json_path, csv_path]
