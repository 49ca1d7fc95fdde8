# Copyright (c) mmgcp contributors. All rights reserved.
"""Plots of the transfer benchmark, and the validation curves they (and the plateau check) read."""
import glob
import json
import os.path as osp
from collections import OrderedDict
from typing import List, Optional, Tuple

from .experiment import Run
from .stats import format_value


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


def _pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def _colours(variants: List[str], scratch: Optional[str]) -> dict:
    """One tab10 colour per variant; the from-scratch control in grey."""
    plt = _pyplot()
    colours = {v: plt.cm.tab10(i % 10) for i, v in enumerate(variants)}
    if scratch is not None and scratch in colours:
        colours[scratch] = (0.45, 0.45, 0.45, 1.0)
    return colours


def metrics_figure(runs: List[Run], summary: List[dict], scratch: Optional[str] = None):
    """The figure of metrics.png (see :func:`plot_results`); None without metrics."""
    import numpy as np
    plt = _pyplot()

    panels = list(OrderedDict.fromkeys((s['task'], s['metric']) for s in summary))
    variants = list(OrderedDict.fromkeys(s['variant'] for s in summary))
    if not panels:
        return None
    colours = _colours(variants, scratch)
    seeds = sorted({r.seed for r in runs if r.seed is not None})
    levels = sorted({s['ci_level'] for s in summary if 'ci_level' in s})
    level = '/'.join(f'{100 * v:g}%' for v in levels) or '95%'
    clipped = any('ci_unclipped' in s for s in summary)
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
            ax.annotate(format_value(entry['mean']), (x - 0.12, entry['mean']), xytext=(0, 6),
                        textcoords='offset points', ha='center', fontsize=7)
        ax.set_xticks(range(len(shown)))
        ax.set_xticklabels([v + ('\n(fixed ckpt)' if entries[v].get('varies') == [] else '')
                            for v in shown], fontsize=8)
        ax.set_xlim(-0.6, len(shown) - 0.4)
        ax.set_title(f'{task}: {metric}', fontsize=9)
        ax.grid(axis='y', alpha=0.3)
        if reference is not None and 'mean' in reference:
            ax.legend(fontsize=7, loc='best')
    title = (f'dots: seeds ({len(seeds)}); bar: mean with {level} CI (Student t'
             + (", clipped to the metric's range)" if clipped else ')'))
    fig.suptitle(title + ('; dashed: from-scratch control' if scratch else ''), fontsize=9)
    return fig


def curves_figure(runs: List[Run], summary: List[dict], scratch: Optional[str] = None):
    """The figure of val_curves.png (see :func:`plot_results`); None without trained runs."""
    import numpy as np
    plt = _pyplot()

    panels = list(OrderedDict.fromkeys((s['task'], s['metric']) for s in summary))
    variants = list(OrderedDict.fromkeys(s['variant'] for s in summary))
    curve_panels = [(t, m) for t, m in panels
                    if any(r.task == t and not r.evaluate_only for r in runs)]
    if not curve_panels:
        return None
    colours = _colours(variants, scratch)
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
    return fig


def plot_results(work_dir: str, runs: List[Run], summary: List[dict],
                 scratch: Optional[str] = None) -> List[str]:
    """Write metrics.png and val_curves.png.

    metrics.png: one panel per task and metric; every seed's value as a dot, the mean as a bar
    with the summary's confidence interval (Student t, within the metric's range: the same
    interval as results.json), the from-scratch control's mean as a dashed reference line (its
    interval shaded); a fixed checkpoint's single evaluation has no interval and is labelled so.
    val_curves.png: the validation metric against the iteration, one line per variant (mean over
    seeds) with the band between the seeds' lowest and highest values.

    Args:
        work_dir (str): Folder the PNGs are written to.
        runs (list[Run]): The benchmark's runs (their logs give the validation curves).
        summary (list[dict]): From :func:`mmgcp.benchmark.report.summarize`.
        scratch (str, optional): The from-scratch control variant, drawn as the reference.

    Returns:
        list[str]: Paths of the written PNGs.
    """
    plt = _pyplot()
    written = []
    for name, make in (('metrics.png', metrics_figure), ('val_curves.png', curves_figure)):
        fig = make(runs, summary, scratch)
        if fig is None:
            break
        fig.tight_layout()
        path = osp.join(work_dir, name)
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    return written
