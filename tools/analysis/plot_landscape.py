# Copyright (c) mmgcp contributors. All rights reserved.
"""Plot the loss-landscape and gradient-predictiveness bands of several runs on one figure.

Reads what :class:`mmgcp.engine.LossLandscapeHook` logged to each run's
``<work_dir>/<timestamp>/vis_data/scalars.json`` and draws, against training steps, the band
between the smallest and the largest of the probed losses ``L(y + eta g)`` (left) and of the
gradient differences ``||dL/dy(y + eta g) - g||`` (right), one colour per run: GAP vs GCP vs
DropCov in the TPAMI paper's figures. A narrower band means a smoother loss, or more predictive
gradients.

Example::

    python tools/analysis/plot_landscape.py work_dirs/gap work_dirs/gcp work_dirs/dropcov \\
        --labels GAP GCP DropCov --out work_dirs/landscape.png --out-json work_dirs/bands.json
"""
import argparse
import glob
import json
import math
import os.path as osp
from typing import Dict, List, Optional

KEYS = ('loss_min', 'loss_max', 'grad_diff_min', 'grad_diff_max', 'loss', 'grad_norm')


def parse_args():
    parser = argparse.ArgumentParser(
        description='Plot min-max bands of LossLandscapeHook probes of several runs')
    parser.add_argument(
        'runs', nargs='+',
        help='work dirs (all <work_dir>/*/vis_data/scalars.json are read, the later timestamp '
        'winning on repeated steps) or scalars.json files')
    parser.add_argument('--labels', nargs='+', help='one legend label per run (default: names)')
    parser.add_argument('--out', default='landscape.png', help='figure to write (png, pdf, svg)')
    parser.add_argument('--out-json', help='also write the bands and their mean widths here')
    parser.add_argument(
        '--log-y', action='store_true', help='logarithmic y axes (bands spanning decades)')
    parser.add_argument('--title', help='figure title')
    return parser.parse_args()


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


def plot(runs: Dict[str, Dict[str, List[float]]], out: str, log_y: bool = False,
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


def main():
    args = parse_args()
    labels = args.labels or [osp.basename(osp.normpath(r)) for r in args.runs]
    if len(labels) != len(args.runs):
        raise SystemExit(f'--labels got {len(labels)} labels for {len(args.runs)} runs; give one '
                         'per run.')
    runs = {label: load_probes(run) for label, run in zip(labels, args.runs)}
    plot(runs, args.out, args.log_y, args.title)
    summaries = {label: band_summary(probes) for label, probes in runs.items()}
    print('| run | probes | loss band (mean / later half) | grad-diff band (mean / later half) |')
    print('|---|---|---|---|')
    for label, s in summaries.items():
        print(f"| {label} | {s['num_probes']} | {s['loss_band_mean']:.4g} / "
              f"{s['loss_band_mean_late']:.4g} | {s['grad_diff_band_mean']:.4g} / "
              f"{s['grad_diff_band_mean_late']:.4g} |")
    print(f'Figure written to {args.out}')
    if args.out_json:
        with open(args.out_json, 'w') as f:
            json.dump({label: dict(summary=summaries[label], probes=runs[label])
                       for label in runs}, f, indent=1)
        print(f'Bands written to {args.out_json}')


if __name__ == '__main__':
    main()
