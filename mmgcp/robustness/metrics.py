# Copyright (c) mmgcp contributors. All rights reserved.
"""Robustness summaries: corruption error (CE / mCE), mean performance under corruption (mPC) and
its ratio to clean performance (rPC), as in ImageNet-C (Hendrycks & Dietterich, 2019) and COCO-C
(Michaelis et al., 2019)."""
import math
from typing import Dict, Optional

#: ``{corruption: {severity: metric value}}``
Table = Dict[str, Dict[int, float]]


def metric_scale(metric: str) -> float:
    """The value of a perfect score: 1 for COCO APs (mmdet reports them in [0, 1]), 100 for the
    percentages of mmpretrain (accuracy) and mmseg (mIoU, aAcc)."""
    return 1.0 if metric.startswith('coco/') else 100.0


def _corrupted(table: Table) -> Dict[str, Dict[int, float]]:
    """Drop severity 0 (clean) and corruptions without a corrupted severity."""
    out = {}
    for corruption, by_severity in table.items():
        values = {int(s): float(v) for s, v in by_severity.items() if int(s) > 0}
        if values:
            out[corruption] = values
    return out


def summarize_robustness(table: Table, clean: float, scale: float = 100.0,
                         baseline: Optional[Table] = None) -> dict:
    """Summarise a model's metric over corruptions x severities.

    Severity 0 (clean) entries are ignored; every average is over severities >= 1.

    Args:
        table (dict): ``{corruption: {severity: value}}`` of a higher-is-better metric.
        clean (float): The metric on clean inputs.
        scale (float): A perfect score (100 for percentages, 1 for COCO AP); the error is
            ``scale - value``. Defaults to 100.
        baseline (dict, optional): The same table of a baseline model (e.g. the GAP variant). When
            given, ``CE_c = sum_s E_{s,c} / sum_s E^baseline_{s,c}`` and ``mCE`` is its mean over
            corruptions in percent (the baseline scores 100); otherwise ``CE_c`` is the mean error
            over severities and ``mCE`` their mean, in the metric's units.

    Returns:
        dict: ``clean``, ``mPC`` (mean metric over corruptions and severities), ``rPC``
        (``mPC / clean``), ``mCE``, ``mCE_normalized`` (bool) and ``per_corruption``:
        ``{corruption: dict(mean=..., error=..., CE=...)}``.
    """
    corrupted = _corrupted(table)
    if not corrupted:
        raise ValueError('no corrupted results (severity >= 1) to summarise; got severities '
                         f'{sorted({int(s) for t in table.values() for s in t})}.')
    per_corruption = {}
    for corruption, values in corrupted.items():
        errors = [scale - v for v in values.values()]
        entry = dict(mean=sum(values.values()) / len(values), error=sum(errors) / len(errors))
        if baseline is None:
            entry['CE'] = entry['error']
        else:
            base = _corrupted(baseline).get(corruption, {})
            missing = sorted(set(values) - set(base))
            if missing:
                raise ValueError(f'the baseline has no {corruption} results at severities '
                                 f'{missing}; evaluate it with the same --corruptions and '
                                 '--severities.')
            base_error = sum(scale - base[s] for s in values)
            entry['CE'] = 100.0 * sum(errors) / base_error if base_error > 0 else math.nan
        per_corruption[corruption] = entry
    num_values = sum(len(v) for v in corrupted.values())
    mpc = sum(sum(v.values()) for v in corrupted.values()) / num_values
    mce = sum(e['CE'] for e in per_corruption.values()) / len(per_corruption)
    return dict(clean=float(clean), mPC=mpc, rPC=mpc / clean if clean else math.nan, mCE=mce,
                mCE_normalized=baseline is not None, per_corruption=per_corruption)


def severity_curve(table: Table, clean: Optional[float] = None) -> Dict[int, float]:
    """Mean over corruptions of the metric at each severity (``clean`` at severity 0 if given).

    Args:
        table (dict): ``{corruption: {severity: value}}``.
        clean (float, optional): Clean metric, used for severity 0 when no corruption has it.

    Returns:
        dict: ``{severity: mean value}``, sorted by severity.
    """
    by_severity: Dict[int, list] = {}
    for values in table.values():
        for severity, value in values.items():
            by_severity.setdefault(int(severity), []).append(float(value))
    curve = {s: sum(v) / len(v) for s, v in by_severity.items()}
    if clean is not None:
        curve.setdefault(0, float(clean))
    return dict(sorted(curve.items()))
