# Copyright (c) mmgcp contributors. All rights reserved.
"""Flatness of a checkpoint of an mmengine model: filter-normalised loss curves and the top
Hessian eigenvalue (the mmengine adapter of :mod:`mmgcp.analysis`'s plain-PyTorch math;
``tools/analysis/flatness.py`` is its command line).

On a fixed set of batches (the first ``num_batches`` of a dataloader of the config) it evaluates
the loss ``L(w + alpha d)`` along a filter-normalised random direction ``d`` (Li et al.,
NeurIPS 2018), optionally ``L(w + alpha dx + beta dy)`` on a plane, and estimates the largest
Hessian eigenvalue by power iteration on Hessian-vector products (double backward; mmgcp's
once-differentiable GCP functions are differentiated through their forward, after a check that
their gradients match; ``hvp='fd'`` uses central differences of gradients instead).
"""
import copy
import json
import os
import os.path as osp
import time
from functools import partial
from typing import Callable, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import Runner, load_checkpoint, set_random_seed

from mmgcp.utils import check_checkpoint_covers_model, check_checkpoint_trusted, check_data

from .directions import filter_normalized_direction
from .hessian import (
    differentiable_custom_functions,
    finite_difference_hvp,
    hessian_vector_product,
    top_hessian_eigenvalue,
)
from .loss_surface import loss_curve_1d, loss_surface_2d


def load_batches(cfg: Config, model: torch.nn.Module, split: str, num_batches: int,
                 batch_size: int, seed: int, dtype: torch.dtype) -> List[dict]:
    """The first ``num_batches`` batches of a dataloader of ``cfg``, preprocessed, in memory."""
    key = f'{split}_dataloader'
    if cfg.get(key) is None:
        raise ValueError(f'The config has no {key}; choose another split (--split).')
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
            raise RuntimeError(
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


def plot_flatness(result: dict, out_dir: str) -> List[str]:
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


def measure_flatness(config: str,
                     checkpoint: str,
                     out_dir: Optional[str] = None,
                     split: str = 'train',
                     num_batches: int = 4,
                     batch_size: Optional[int] = None,
                     mode: str = 'eval',
                     value_range: Tuple[float, float] = (-1.0, 1.0),
                     num_points: int = 41,
                     surface_2d: bool = False,
                     num_points_2d: int = 21,
                     hessian_iters: int = 20,
                     hessian_tol: float = 1e-3,
                     hvp: str = 'autograd',
                     fd_step: float = 1e-3,
                     dtype: str = 'float32',
                     seed: int = 0,
                     device: str = 'cpu',
                     cfg_options: Optional[dict] = None,
                     allow_partial: bool = False) -> dict:
    """Measure the flatness of a checkpoint and write ``flatness.json`` and the plots.

    Args:
        config (str): Config file of the model.
        checkpoint (str): Checkpoint file.
        out_dir (str, optional): Where to write ``flatness.json``, ``loss_curve_1d.png`` and
            ``loss_surface_2d.png``. Defaults to ``<checkpoint dir>/flatness``.
        split (str): Dataloader of the config the batches come from (``'train'``, ``'val'`` or
            ``'test'``, its pipeline included). Defaults to ``'train'``.
        num_batches (int): Batches the loss averages. Defaults to 4.
        batch_size (int, optional): Override of the dataloader's batch size. Defaults to None.
        mode (str): ``'eval'`` (BN running statistics, no dropout; as Li et al.) or ``'train'``
            (batch statistics, dropout with a fixed seed). Defaults to ``'eval'``.
        value_range (tuple[float, float]): Range of the direction coordinates (1 = one
            filter-norm step). Defaults to (-1, 1).
        num_points (int): Points of the 1-D curve. Defaults to 41.
        surface_2d (bool): Also compute a 2-D surface. Defaults to False.
        num_points_2d (int): Grid points per axis of the surface. Defaults to 21.
        hessian_iters (int): Power iterations (0 skips the Hessian). Defaults to 20.
        hessian_tol (float): Relative tolerance of the power iteration. Defaults to 1e-3.
        hvp (str): ``'autograd'`` (double backward, exact) or ``'fd'`` (central differences of
            gradients). Defaults to ``'autograd'``.
        fd_step (float): Central-difference step relative to the weight norm. Defaults to 1e-3.
        dtype (str): ``'float32'`` or ``'float64'``. Defaults to ``'float32'``.
        seed (int): Seed of directions, data and dropout. Defaults to 0.
        device (str): Device. Defaults to ``'cpu'``.
        cfg_options (dict, optional): Overrides merged into the config. Defaults to None.
        allow_partial (bool): Measure even when the checkpoint does not hold exactly the model's
            weights (by default :class:`mmgcp.utils.CheckpointMismatchError`). Defaults to False.

    Returns:
        dict: What ``flatness.json`` holds.
    """
    if num_batches < 1 or num_points < 2 or num_points_2d < 2:
        raise ValueError('num_batches (--num-batches) must be >= 1 and num_points '
                         '(--num-points, --num-points-2d) >= 2.')
    # An untrusted checkpoint is refused before the model and the data are built.
    check_checkpoint_trusted(checkpoint)
    cfg = Config.fromfile(config)
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    check_data(cfg, (split, ), config=config)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    out_dir = out_dir or osp.join(osp.dirname(osp.abspath(checkpoint)), 'flatness')
    os.makedirs(out_dir, exist_ok=True)
    torch_dtype = getattr(torch, dtype)
    start = time.time()
    set_random_seed(seed)  # the pipeline's random augmentations pick the same batches

    model_cfg = copy.deepcopy(cfg.model)
    if isinstance(cfg.get('data_preprocessor'), dict):  # as mmengine's Runner does
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    check_checkpoint_covers_model(model, checkpoint, allow_partial, config)
    load_checkpoint(model, checkpoint, map_location='cpu', logger='silent')
    model.to(device=device, dtype=torch_dtype)
    model.train(mode == 'train')
    batches = load_batches(cfg, model, split, num_batches, batch_size, seed, torch_dtype)
    batch_loss, mean_loss = make_losses(model, batches, seed)
    params = [p for p in model.parameters() if p.requires_grad]
    generator = torch.Generator().manual_seed(seed)

    result = dict(
        config=config, checkpoint=checkpoint, split=split,
        num_batches=len(batches), num_samples=sum(len(b['inputs']) for b in batches),
        mode=mode, dtype=dtype, seed=seed,
        num_params=sum(p.numel() for p in params),
        weight_norm=float(sum(p.detach().double().pow(2).sum() for p in params).sqrt()),
        loss=float(mean_loss()))

    alphas = torch.linspace(value_range[0], value_range[1], num_points).tolist()
    direction = filter_normalized_direction(params, generator)
    losses = loss_curve_1d(mean_loss, params, direction, alphas).tolist()
    edges = (losses[0] + losses[-1]) / 2
    result['curve_1d'] = dict(
        alphas=alphas, losses=losses,
        mean_increase_at_ends=edges - result['loss'],
        max_increase=max(losses) - result['loss'])
    print(f"loss {result['loss']:.4f}; 1-D curve over [{alphas[0]:g}, {alphas[-1]:g}]: "
          f"mean increase at the ends {result['curve_1d']['mean_increase_at_ends']:.4f}")

    if surface_2d:
        grid = torch.linspace(value_range[0], value_range[1], num_points_2d).tolist()
        direction_y = filter_normalized_direction(params, generator)
        surface = loss_surface_2d(mean_loss, params, direction, direction_y, grid, grid)
        result['surface_2d'] = dict(alphas=grid, betas=grid, losses=surface.tolist())

    if hessian_iters > 0:
        hvp_fn, info = make_hvp(hvp, batch_loss, batches, params, fd_step)
        power = top_hessian_eigenvalue(hvp_fn, params, hessian_iters, hessian_tol, generator)
        result['hessian'] = dict(
            top_eigenvalue=power.eigenvalue, converged=power.converged, history=power.history,
            **info)
        print(f'top Hessian eigenvalue {power.eigenvalue:.5g} ({hvp} HVP, '
              f"{len(power.history)} iterations, converged: {power.converged})")

    result['time_s'] = time.time() - start
    with open(osp.join(out_dir, 'flatness.json'), 'w') as f:
        json.dump(result, f, indent=1)
    for path in plot_flatness(result, out_dir):
        print(f'Plot written to {path}')
    print(f"Numbers written to {osp.join(out_dir, 'flatness.json')}")
    return result


def plot_flatness_curves(results: Sequence[dict], labels: Sequence[str], out: str,
                         absolute: bool = False) -> List[dict]:
    """Overlay the 1-D loss curves of several :func:`measure_flatness` results.

    Each curve is drawn relative to its own loss at the weights (``L(w + alpha d) - L(w)``),
    unless ``absolute``, so that models with different final losses compare by shape; the
    legend gives the top Hessian eigenvalue.

    Args:
        results (Sequence[dict]): ``flatness.json`` contents.
        labels (Sequence[str]): One legend label per result.
        out (str): Figure to write.
        absolute (bool): Plot ``L(w + alpha d)``, not its increase. Defaults to False.

    Returns:
        list[dict]: One row per result: ``label``, ``loss``, ``mean_increase_at_ends`` and
        ``top_eigenvalue`` (None without a Hessian).
    """
    if len(labels) != len(results):
        raise ValueError(f'got {len(labels)} labels for {len(results)} results; give one per '
                         'result (--labels).')
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    rows = []
    for label, result in zip(labels, results):
        curve = result['curve_1d']
        offset = 0.0 if absolute else result['loss']
        eig = result.get('hessian', {}).get('top_eigenvalue')
        legend = label if eig is None else f'{label} (lambda_max {eig:.3g})'
        ax.plot(curve['alphas'], [v - offset for v in curve['losses']], label=legend)
        rows.append(dict(label=label, loss=result['loss'],
                         mean_increase_at_ends=curve['mean_increase_at_ends'],
                         top_eigenvalue=eig))
    ax.set_xlabel('alpha (filter-normalised direction)')
    ax.set_ylabel('loss' if absolute else 'loss - loss at the weights')
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=150)
    plt.close(fig)
    return rows
