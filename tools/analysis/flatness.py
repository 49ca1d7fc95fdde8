# Copyright (c) mmgcp contributors. All rights reserved.
"""Measure the flatness of a checkpoint: filter-normalised loss curves and the top Hessian
eigenvalue (:func:`mmgcp.analysis.flatness.measure_flatness`).

Writes ``flatness.json`` (all numbers), ``loss_curve_1d.png`` and, with ``--surface-2d``,
``loss_surface_2d.png`` to ``--out-dir``.

Example::

    python tools/analysis/flatness.py configs/toy/resnet18-w16-gcp_1xb32_toy.py \\
        work_dirs/gcp/epoch_8.pth --out-dir work_dirs/gcp/flatness --surface-2d
"""
import argparse

import torch
from mmengine.config import DictAction

import mmgcp  # noqa: F401  registers mmgcp and fixes local checkpoint loading on torch >= 2.6
from mmgcp.analysis.flatness import measure_flatness
from mmgcp.utils import add_trust_checkpoint_argument, exit_on_untrusted_checkpoint


def parse_args():
    parser = argparse.ArgumentParser(
        description='Filter-normalised loss curves and top Hessian eigenvalue of a checkpoint')
    parser.add_argument('config', help='config file of the model')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--out-dir', help='where to write flatness.json and the plots '
        '(default: <checkpoint dir>/flatness)')
    parser.add_argument(
        '--split', choices=['train', 'val', 'test'], default='train',
        help='dataloader of the config to take the batches from (its pipeline included)')
    parser.add_argument('--num-batches', type=int, default=4, help='batches the loss averages')
    parser.add_argument('--batch-size', type=int, help='override the dataloader batch size')
    parser.add_argument(
        '--mode', choices=['eval', 'train'], default='eval',
        help='model mode for the loss: eval (BN running statistics, no dropout; as Li et al.) '
        'or train (batch statistics, random dropout with a fixed seed)')
    parser.add_argument(
        '--range', type=float, nargs=2, default=(-1.0, 1.0), metavar=('MIN', 'MAX'),
        help='range of the direction coordinates (1 = one filter-norm step)')
    parser.add_argument('--num-points', type=int, default=41, help='points of the 1-D curve')
    parser.add_argument('--surface-2d', action='store_true', help='also compute a 2-D surface')
    parser.add_argument('--num-points-2d', type=int, default=21, help='grid points per axis')
    parser.add_argument(
        '--hessian-iters', type=int, default=20, help='power iterations (0: skip the Hessian)')
    parser.add_argument(
        '--hessian-tol', type=float, default=1e-3, help='relative tolerance of power iteration')
    parser.add_argument(
        '--hvp', choices=['autograd', 'fd'], default='autograd',
        help='Hessian-vector products by double backward (exact; mmgcp\'s once-differentiable '
        'GCP functions are differentiated through their forward) or by central differences of '
        'gradients (approximate, biased by ReLU kinks)')
    parser.add_argument(
        '--fd-step', type=float, default=1e-3,
        help='central-difference step relative to the weight norm (--hvp fd)')
    parser.add_argument(
        '--dtype', choices=['float32', 'float64'], default='float32',
        help='precision of the model and inputs (float64 makes finite differences exact-ish)')
    parser.add_argument('--seed', type=int, default=0, help='seed of directions, data and dropout')
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu', help='device')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, help='override settings of the config')
    parser.add_argument(
        '--allow-partial', action='store_true',
        help='measure even when the checkpoint does not hold exactly the model\'s weights')
    add_trust_checkpoint_argument(parser)
    return parser.parse_args()


def main():
    args = parse_args()
    if args.num_batches < 1 or args.num_points < 2 or args.num_points_2d < 2:
        raise SystemExit('--num-batches must be >= 1 and --num-points(-2d) >= 2.')
    measure_flatness(
        args.config, args.checkpoint, out_dir=args.out_dir, split=args.split,
        num_batches=args.num_batches, batch_size=args.batch_size, mode=args.mode,
        value_range=tuple(args.range), num_points=args.num_points,
        surface_2d=args.surface_2d, num_points_2d=args.num_points_2d,
        hessian_iters=args.hessian_iters, hessian_tol=args.hessian_tol, hvp=args.hvp,
        fd_step=args.fd_step, dtype=args.dtype, seed=args.seed, device=args.device,
        cfg_options=args.cfg_options, allow_partial=args.allow_partial)


if __name__ == '__main__':
    with exit_on_untrusted_checkpoint():
        main()
