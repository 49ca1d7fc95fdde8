# Copyright (c) mmgcp contributors. All rights reserved.
"""Plots of a metric against corruption severity."""
import os
import os.path as osp
from typing import Dict, List, Optional

from .metrics import severity_curve
from .results import metric_table


def _draw_corruptions(ax, result: dict, metric: str) -> None:
    """One line per corruption (clean at severity 0) plus their mean, thick and black."""
    table = metric_table(result, metric)
    clean = result.get('clean', {}).get(metric)
    for corruption, values in table.items():
        curve = dict(values)
        if clean is not None:
            curve.setdefault(0, clean)
        xs = sorted(curve)
        ax.plot(xs, [curve[s] for s in xs], marker='.', linewidth=1, label=corruption)
    mean = severity_curve(table, clean)
    ax.plot(list(mean), list(mean.values()), color='black', linewidth=2.5, marker='o',
            label='mean')


def _draw_variants(ax, results: List[dict], labels: List[str], metric: str) -> None:
    """One line per variant: the mean over corruptions at each severity."""
    for result, label in zip(results, labels):
        mean = severity_curve(metric_table(result, metric), result.get('clean', {}).get(metric))
        ax.plot(list(mean), list(mean.values()), marker='o', linewidth=2, label=label)


def plot_robustness(results: List[dict], out_path: str, labels: Optional[List[str]] = None,
                    metric: Optional[str] = None, title: Optional[str] = None) -> str:
    """Plot a metric against severity.

    Args:
        results (list[dict]): Result dicts (``robustness.json``). One: a line per corruption and
            the mean; several: a line per result (variant), the mean over corruptions.
        out_path (str): The PNG to write.
        labels (list[str], optional): Line labels of several results. Defaults to their
            checkpoint file names.
        metric (str, optional): Metric key. Defaults to the first result's ``metric``.
        title (str, optional): Plot title.

    Returns:
        str: ``out_path``.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    metric = metric or results[0]['metric']
    labels = labels or [osp.basename(str(r.get('checkpoint', i))) for i, r in enumerate(results)]
    if len(labels) != len(results):
        raise ValueError(f'got {len(labels)} labels for {len(results)} result files; give one '
                         'label per file.')
    fig, ax = plt.subplots(figsize=(7, 4.5))
    if len(results) == 1:
        _draw_corruptions(ax, results[0], metric)
    else:
        _draw_variants(ax, results, labels, metric)
    ax.set_xlabel('severity (0 = clean)')
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(metric)
    ax.set_title(title or f'{metric} under corruptions')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2 if len(results) == 1 else 1)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(out_path)), exist_ok=True)
    fig.savefig(out_path, dpi=120)
    plt.close(fig)
    return out_path


def plot_robustness_grid(groups: Dict[str, Dict[str, dict]], out_path: str) -> str:
    """One panel per task, a line per variant (mean over corruptions vs severity).

    Args:
        groups (dict): ``{task: {variant label: result dict}}``.
        out_path (str): The PNG to write.

    Returns:
        str: ``out_path``.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, max(len(groups), 1), figsize=(5 * max(len(groups), 1), 4),
                             squeeze=False)
    for ax, (task, by_variant) in zip(axes[0], groups.items()):
        results = list(by_variant.values())
        metric = results[0]['metric']
        _draw_variants(ax, results, list(by_variant), metric)
        ax.set_title(f'{task}: {metric}')
        ax.set_xlabel('severity (0 = clean)')
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(out_path)), exist_ok=True)
    fig.savefig(out_path, dpi=120)
    plt.close(fig)
    return out_path
