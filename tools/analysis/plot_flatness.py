# Copyright (c) mmgcp contributors. All rights reserved.
"""Overlay the 1-D loss curves of several ``tools/analysis/flatness.py`` results.

Each curve is drawn relative to its own loss at the weights (``L(w + alpha d) - L(w)``), so that
models with different final losses compare by shape; the legend gives the top Hessian eigenvalue.

Example::

    python tools/analysis/plot_flatness.py work_dirs/{gap,gcp,dropcov}/flatness/flatness.json \\
        --labels GAP GCP DropCov --out work_dirs/flatness.png
"""
import argparse
import json
import os.path as osp


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
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    print('| model | loss | mean increase at the ends | top Hessian eigenvalue |')
    print('|---|---|---|---|')
    for label, path in zip(labels, args.results):
        with open(path) as f:
            result = json.load(f)
        curve = result['curve_1d']
        offset = 0.0 if args.absolute else result['loss']
        eig = result.get('hessian', {}).get('top_eigenvalue')
        legend = label if eig is None else f'{label} (lambda_max {eig:.3g})'
        ax.plot(curve['alphas'], [v - offset for v in curve['losses']], label=legend)
        eig_text = '-' if eig is None else f'{eig:.4g}'
        print(f"| {label} | {result['loss']:.4f} | {curve['mean_increase_at_ends']:.4f} | "
              f'{eig_text} |')
    ax.set_xlabel('alpha (filter-normalised direction)')
    ax.set_ylabel('loss' if args.absolute else 'loss - loss at the weights')
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=150)
    print(f'Figure written to {args.out}')


if __name__ == '__main__':
    main()
