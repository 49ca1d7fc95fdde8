# Copyright (c) mmgcp contributors. All rights reserved.
"""Plot the loss-landscape and gradient-predictiveness bands of several runs on one figure
(:mod:`mmgcp.analysis.landscape_bands`), and print their mean widths.

Example::

    python tools/analysis/plot_landscape.py work_dirs/gap work_dirs/gcp work_dirs/dropcov \\
        --labels GAP GCP DropCov --out work_dirs/landscape.png --out-json work_dirs/bands.json
"""
import argparse
import json
import os.path as osp

from mmgcp.analysis.landscape_bands import band_summary, load_probes, plot_bands


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


def main():
    args = parse_args()
    labels = args.labels or [osp.basename(osp.normpath(r)) for r in args.runs]
    if len(labels) != len(args.runs):
        raise SystemExit(f'--labels got {len(labels)} labels for {len(args.runs)} runs; give one '
                         'per run.')
    runs = {label: load_probes(run) for label, run in zip(labels, args.runs)}
    plot_bands(runs, args.out, args.log_y, args.title)
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
