# Copyright (c) mmgcp contributors. All rights reserved.
"""Loss-landscape and gradient-predictiveness bands of training runs.

Reads what :class:`mmgcp.engine.LossLandscapeHook` logged to each run's
``<work_dir>/<timestamp>/vis_data/scalars.json``, summarises the band between the smallest and
the largest of the probed losses ``L(y + eta g)`` and of the gradient differences
``||dL/dy(y + eta g) - g||`` and draws them against training steps, one colour per run (GAP vs
GCP vs DropCov in the TPAMI paper's figures). A narrower band means a smoother loss, or more
predictive gradients. ``tools/analysis/plot_landscape.py`` is the command line.
"""
import glob
import json
import math
import os.path as osp
from typing import Dict, List, Optional

#: Scalars of :class:`mmgcp.engine.LossLandscapeHook` (``landscape/<key>``) read per probe.
KEYS = ('loss_min', 'loss_max', 'grad_diff_min', 'grad_diff_max', 'loss', 'grad_norm')


def find_scalar_files(run: str) -> List[str]:
    """The scalar JSON files of a run, oldest first."""
    if osp.isfile(run):
        return [run]
    files = sorted(glob.glob(osp.join(run, '*', 'vis_data', 'scalars.json')))
    files += sorted(glob.glob(osp.join(run, 'vis_data', 'scalars.json')))
    if not files:
        raise FileNotFoundError(f'No vis_data/scalars.json under {run!r}: pass a work dir of a '
                                'run trained with LossLandscapeHook, or the JSON file itself.')
    return files


def load_probes(run: str) -> Dict[str, List[float]]:
    """Probes of one run: ``step`` and every key of :data:`KEYS`, as lists sorted by step."""
    by_step: Dict[int, dict] = {}
    for path in find_scalar_files(run):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                record = json.loads(line)
                if 'landscape/loss_min' in record:
                    by_step[int(record['step'])] = record
    if not by_step:
        raise ValueError(f'{run!r} has no landscape probes: enable '
                         "custom_hooks=[dict(type='mmgcp.LossLandscapeHook', interval=K)] and "
                         'train for at least one probe.')
    steps = sorted(by_step)
    probes = {'step': steps}
    for key in KEYS:
        probes[key] = [by_step[s].get(f'landscape/{key}', float('nan')) for s in steps]
    return probes


def _finite_mean(values: List[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else float('nan')


def band_summary(probes: Dict[str, List[float]]) -> Dict[str, float]:
    """Mean widths (max - min) of both bands, over all probes and over the later half."""
    summary = {'num_probes': len(probes['step'])}
    half = len(probes['step']) // 2
    for name in ('loss', 'grad_diff'):
        widths = [hi - lo for lo, hi in zip(probes[f'{name}_min'], probes[f'{name}_max'])]
        summary[f'{name}_band_mean'] = _finite_mean(widths)
        summary[f'{name}_band_mean_late'] = _finite_mean(widths[half:])
    return summary


def plot_bands(runs: Dict[str, Dict[str, List[float]]], out: str, log_y: bool = False,
               title: Optional[str] = None) -> None:
    """Draw the two band panels, one colour per run, and save the figure."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    panels = (('loss', 'loss landscape: L(y + eta g)'),
              ('grad_diff', 'gradient predictiveness: ||dL/dy(y + eta g) - g||'))
    for idx, (label, probes) in enumerate(runs.items()):
        color = f'C{idx}'
        for ax, (name, _) in zip(axes, panels):
            lo, hi = probes[f'{name}_min'], probes[f'{name}_max']
            ax.fill_between(probes['step'], lo, hi, color=color, alpha=0.3, label=label)
            ax.plot(probes['step'], lo, color=color, lw=0.8)
            ax.plot(probes['step'], hi, color=color, lw=0.8)
    for ax, (_, panel_title) in zip(axes, panels):
        ax.set_title(panel_title, fontsize=10)
        ax.set_xlabel('training step')
        if log_y:
            ax.set_yscale('log')
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=150)
    plt.close(fig)
