# Copyright (c) mmgcp contributors. All rights reserved.
"""Measure the flatness of a checkpoint: filter-normalised loss curves and the top Hessian
eigenvalue.

On a fixed set of batches (the first ``--num-batches`` of the config's train dataloader by
default) it evaluates the loss ``L(w + alpha d)`` along a filter-normalised random direction ``d``
(Li et al., NeurIPS 2018), optionally ``L(w + alpha dx + beta dy)`` on a plane, and estimates the
largest Hessian eigenvalue by power iteration on Hessian-vector products (double backward; mmgcp's
once-differentiable GCP functions are differentiated through their forward, after a check that
their gradients match; ``--hvp fd`` uses central differences of gradients instead).

Writes ``flatness.json`` (all numbers), ``loss_curve_1d.png`` and, with ``--surface-2d``,
``loss_surface_2d.png`` to ``--out-dir``.

Example::

    python tools/analysis/flatness.py configs/toy/resnet18-w16-gcp_1xb32_toy.py \\
        work_dirs/gcp/epoch_8.pth --out-dir work_dirs/gcp/flatness --surface-2d
"""
import argparse
import copy
import json
import os
import os.path as osp
import time
from functools import partial
from typing import Callable, List

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import Runner, load_checkpoint, set_random_seed

import mmgcp  # noqa: F401  registers mmgcp and fixes local checkpoint loading on torch >= 2.6
from mmgcp.analysis import (
    differentiable_custom_functions,
    filter_normalized_direction,
    finite_difference_hvp,
    hessian_vector_product,
    loss_curve_1d,
    loss_surface_2d,
    top_hessian_eigenvalue,
)
from mmgcp.utils import check_checkpoint_covers_model, check_data


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
    return parser.parse_args()


def load_batches(cfg: Config, model: torch.nn.Module, split: str, num_batches: int,
                 batch_size: int, seed: int, dtype: torch.dtype) -> List[dict]:
    """The first ``num_batches`` batches of a dataloader of ``cfg``, preprocessed, in memory."""
    key = f'{split}_dataloader'
    if cfg.get(key) is None:
        raise ValueError(f'The config has no {key}; choose another --split.')
    loader_cfg = copy.deepcopy(cfg.get(key))
    loader_cfg.update(num_workers=0, persistent_workers=False)
    if batch_size is not None:
        loader_cfg['batch_size'] = batch_size
    loader = Runner.build_dataloader(loader_cfg, seed=seed)
    batches = []
    for batch in loader:
        with torch.no_grad():
            data = model.data_preprocessor(batch, False)
        data['inputs'] = data['inputs'].to(dtype)
        batches.append(data)
        if len(batches) == num_batches:
            break
    return batches


def make_losses(model: torch.nn.Module, batches: List[dict], seed: int):
    """Per-batch loss (the model's total training loss) and its mean over the batches."""

    def batch_loss(data: dict) -> torch.Tensor:
        torch.manual_seed(seed)  # the same dropout masks at every point (train mode)
        loss, _ = model.parse_losses(model(**data, mode='loss'))
        return loss

    def mean_loss() -> torch.Tensor:
        with torch.no_grad():
            return sum(batch_loss(data) for data in batches) / len(batches)

    return batch_loss, mean_loss


def relative_difference(first: List[torch.Tensor], second: List[torch.Tensor]) -> float:
    """``||first - second|| / ||first||`` over lists of tensors."""
    diff = sum(float((a.double() - b.double()).pow(2).sum()) for a, b in zip(first, second))
    norm = sum(float(a.double().pow(2).sum()) for a in first)
    return (diff / max(norm, 1e-300))**0.5


def batch_grads(loss: torch.Tensor, params: list) -> List[torch.Tensor]:
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


def make_hvp(method: str, batch_loss: Callable, batches: List[dict], params: list,
             fd_step: float):
    """The batch-averaged Hessian-vector product, and facts about it for the JSON.

    ``autograd`` runs mmgcp's custom autograd functions (covariance, iSQRT, ...) as plain autograd
    code so that they differentiate twice, after checking that their gradients agree with the
    hand-written backward passes on the first batch.
    """
    info = dict(hvp_method=method)
    if method == 'fd':
        one_batch = partial(finite_difference_hvp, rel_step=fd_step)
        info['fd_step'] = fd_step
    else:
        one_batch = hessian_vector_product
        reference = batch_grads(batch_loss(batches[0]), params)
        with differentiable_custom_functions() as classes:
            unfused = batch_grads(batch_loss(batches[0]), params)
        info['custom_functions'] = [cls.__name__ for cls in classes]
        rel_diff = relative_difference(reference, unfused)
        info['custom_function_grad_rel_diff'] = rel_diff
        if rel_diff > 1e-3:
            raise SystemExit(
                'Gradients through the custom autograd functions run as plain autograd code '
                f'differ from their hand-written backward by {rel_diff:.2e} (relative); use '
                '--hvp fd.')

    def hvp(vector):
        total = None
        with differentiable_custom_functions():
            for data in batches:
                product = one_batch(partial(batch_loss, data), params, vector)
                total = product if total is None else [t + p for t, p in zip(total, product)]
        return [t / len(batches) for t in total]

    return hvp, info


def plot_results(result: dict, out_dir: str) -> List[str]:
    """Write the 1-D curve and, if computed, the 2-D contour plot."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    written = []
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(result['curve_1d']['alphas'], result['curve_1d']['losses'], marker='.')
    ax.set_xlabel('alpha (filter-normalised direction)')
    ax.set_ylabel('loss')
    eig = result.get('hessian', {}).get('top_eigenvalue')
    title = '1-D loss curve'
    if eig is not None:
        title += f' (top Hessian eigenvalue {eig:.4g})'
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = osp.join(out_dir, 'loss_curve_1d.png')
    fig.savefig(path, dpi=150)
    plt.close(fig)
    written.append(path)
    if 'surface_2d' in result:
        surface = result['surface_2d']
        fig, ax = plt.subplots(figsize=(5, 4))
        contour = ax.contourf(surface['alphas'], surface['betas'], surface['losses'], levels=30)
        ax.contour(surface['alphas'], surface['betas'], surface['losses'], levels=15,
                   colors='k', linewidths=0.4)
        fig.colorbar(contour, ax=ax, label='loss')
        ax.set_xlabel('alpha')
        ax.set_ylabel('beta')
        ax.set_title('2-D loss surface', fontsize=10)
        fig.tight_layout()
        path = osp.join(out_dir, 'loss_surface_2d.png')
        fig.savefig(path, dpi=150)
        plt.close(fig)
        written.append(path)
    return written


def main():
    args = parse_args()
    if args.num_batches < 1 or args.num_points < 2 or args.num_points_2d < 2:
        raise SystemExit('--num-batches must be >= 1 and --num-points(-2d) >= 2.')
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    check_data(cfg, (args.split, ), config=args.config)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    out_dir = args.out_dir or osp.join(osp.dirname(osp.abspath(args.checkpoint)), 'flatness')
    os.makedirs(out_dir, exist_ok=True)
    dtype = getattr(torch, args.dtype)
    start = time.time()
    set_random_seed(args.seed)  # the pipeline's random augmentations pick the same batches

    model_cfg = copy.deepcopy(cfg.model)
    if isinstance(cfg.get('data_preprocessor'), dict):  # as mmengine's Runner does
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    check_checkpoint_covers_model(model, args.checkpoint, args.allow_partial, args.config)
    load_checkpoint(model, args.checkpoint, map_location='cpu', logger='silent')
    model.to(device=args.device, dtype=dtype)
    model.train(args.mode == 'train')
    batches = load_batches(cfg, model, args.split, args.num_batches, args.batch_size, args.seed,
                           dtype)
    batch_loss, mean_loss = make_losses(model, batches, args.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    generator = torch.Generator().manual_seed(args.seed)

    result = dict(
        config=args.config, checkpoint=args.checkpoint, split=args.split,
        num_batches=len(batches), num_samples=sum(len(b['inputs']) for b in batches),
        mode=args.mode, dtype=args.dtype, seed=args.seed,
        num_params=sum(p.numel() for p in params),
        weight_norm=float(sum(p.detach().double().pow(2).sum() for p in params).sqrt()),
        loss=float(mean_loss()))

    alphas = torch.linspace(args.range[0], args.range[1], args.num_points).tolist()
    direction = filter_normalized_direction(params, generator)
    losses = loss_curve_1d(mean_loss, params, direction, alphas).tolist()
    edges = (losses[0] + losses[-1]) / 2
    result['curve_1d'] = dict(
        alphas=alphas, losses=losses,
        mean_increase_at_ends=edges - result['loss'],
        max_increase=max(losses) - result['loss'])
    print(f"loss {result['loss']:.4f}; 1-D curve over [{alphas[0]:g}, {alphas[-1]:g}]: "
          f"mean increase at the ends {result['curve_1d']['mean_increase_at_ends']:.4f}")

    if args.surface_2d:
        grid = torch.linspace(args.range[0], args.range[1], args.num_points_2d).tolist()
        direction_y = filter_normalized_direction(params, generator)
        surface = loss_surface_2d(mean_loss, params, direction, direction_y, grid, grid)
        result['surface_2d'] = dict(alphas=grid, betas=grid, losses=surface.tolist())

    if args.hessian_iters > 0:
        hvp, info = make_hvp(args.hvp, batch_loss, batches, params, args.fd_step)
        power = top_hessian_eigenvalue(hvp, params, args.hessian_iters, args.hessian_tol,
                                       generator)
        result['hessian'] = dict(
            top_eigenvalue=power.eigenvalue, converged=power.converged, history=power.history,
            **info)
        print(f'top Hessian eigenvalue {power.eigenvalue:.5g} ({args.hvp} HVP, '
              f"{len(power.history)} iterations, converged: {power.converged})")

    result['time_s'] = time.time() - start
    with open(osp.join(out_dir, 'flatness.json'), 'w') as f:
        json.dump(result, f, indent=1)
    for path in plot_results(result, out_dir):
        print(f'Plot written to {path}')
    print(f"Numbers written to {osp.join(out_dir, 'flatness.json')}")


if __name__ == '__main__':
    main()
