# Copyright (c) mmgcp contributors. All rights reserved.
"""Overlay the 1-D loss curves of several ``tools/analysis/flatness.py`` results
(:func:`mmgcp.analysis.flatness.plot_flatness_curves`).

Each curve is drawn relative to its own loss at the weights (``L(w + alpha d) - L(w)``), so that
models with different final losses compare by shape; the legend gives the top Hessian eigenvalue.

Example::

    python tools/analysis/plot_flatness.py work_dirs/{gap,gcp,dropcov}/flatness/flatness.json \\
        --labels GAP GCP DropCov --out work_dirs/flatness.png
"""
import argparse
import json
import os.path as osp

from mmgcp.analysis.flatness import plot_flatness_curves


def parse_args():
    parser = argparse.ArgumentParser(description='Overlay 1-D loss curves of flatness.py runs')
    parser.add_argument('results', nargs='+', help='flatness.json files')
    parser.add_argument('--labels', nargs='+', help='one legend label per file')
    parser.add_argument('--out', default='flatness.png', help='figure to write')
    parser.add_argument(
        '--absolute', action='store_true', help='plot L(w + alpha d), not its increase')
    return parser.parse_args()


def main():
    args = parse_args()
    labels = args.labels or [osp.basename(osp.dirname(osp.abspath(r))) for r in args.results]
    if len(labels) != len(args.results):
        raise SystemExit(f'--labels got {len(labels)} labels for {len(args.results)} files.')
    results = []
    for path in args.results:
        with open(path) as f:
            results.append(json.load(f))
    rows = plot_flatness_curves(results, labels, args.out, absolute=args.absolute)
    print('| model | loss | mean increase at the ends | top Hessian eigenvalue |')
    print('|---|---|---|---|')
    for row in rows:
        eig = row['top_eigenvalue']
        eig_text = '-' if eig is None else f'{eig:.4g}'
        print(f"| {row['label']} | {row['loss']:.4f} | {row['mean_increase_at_ends']:.4f} | "
              f'{eig_text} |')
    print(f'Figure written to {args.out}')


if __name__ == '__main__':
    main()
