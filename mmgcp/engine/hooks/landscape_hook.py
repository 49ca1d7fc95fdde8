# Copyright (c) mmgcp contributors. All rights reserved.
"""Loss landscape and gradient predictiveness probes during training (TPAMI GCP paper, sec. 4).

Every ``interval`` iterations the hook splits the network after a module (the ResNet stem by
default), takes the current mini-batch's activation ``y`` there and its gradient ``g = dL/dy``, and
records ``L(y + eta g)`` and ``||dL/dy(y + eta g) - g||`` for a range of step sizes
(:func:`mmgcp.analysis.probe_landscape`). Training is left exactly as it would be without it.
"""
import copy
import time
from typing import Any, Dict, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmgcp.analysis import (
    LandscapeProbe,
    capture_rng_state,
    linear_etas,
    preserved_training_state,
    probe_landscape,
    restore_rng_state,
)
from mmgcp.ops import NonFiniteError, eager_nonfinite_checks
from mmgcp.registry import HOOKS


class _StopForward(Exception):
    """Raised by the split hook to end a forward pass once the activation is captured."""


class _ActivationSplit:
    """Forward hook on one module: captures its output (and stops), or replaces it.

    Args:
        module (nn.Module): The module after which the network is split.
        name (str): Its name, for error messages.
    """

    def __init__(self, module: nn.Module, name: str):
        self.name = name
        self.replacement: Optional[torch.Tensor] = None
        self.captured: Optional[torch.Tensor] = None
        self.num_calls = 0
        self.handle = module.register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, args: Any, output: Any) -> torch.Tensor:
        self.num_calls += 1
        if self.num_calls > 1:
            raise RuntimeError(f"The split module '{self.name}' runs more than once per forward "
                               'pass; split after a module that runs once (e.g. the stem).')
        if self.replacement is not None:
            return self.replacement
        if not isinstance(output, torch.Tensor):
            raise TypeError(f"The split module '{self.name}' returns {type(output).__name__}, "
                            'not a tensor; split after a module with a single tensor output.')
        self.captured = output.detach()
        raise _StopForward

    def forward_loss(self, model: nn.Module, data: Any,
                     replacement: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
        """Run ``model`` in ``'loss'`` mode with the split output captured or replaced."""
        self.num_calls = 0
        self.replacement = replacement
        try:
            if isinstance(data, dict):
                losses = model(**data, mode='loss')
            else:
                losses = model(*data, mode='loss')
        except _StopForward:
            return None
        except NonFiniteError:
            if replacement is None:
                raise
            # A large step overflowed inside a GCP layer: record NaN, never stop training.
            return replacement.sum() * float('nan')
        if self.num_calls == 0:
            raise RuntimeError(f"The split module '{self.name}' did not run in the forward pass; "
                               'choose a module on the path from the input to the loss.')
        loss, _ = model.parse_losses(losses)
        return loss


def probe_model_landscape(model: nn.Module, data_batch: Any, split_module: str,
                          etas: Sequence[float]) -> LandscapeProbe:
    """Landscape probe of an mmengine model (e.g. mmpretrain's ImageClassifier) on one batch.

    The batch goes through ``model.data_preprocessor`` (training mode) and ``model(..., mode=
    'loss')``; the loss is ``model.parse_losses``'s total. The model stays in its current mode.
    The random streams are reset to the same state before every evaluation, so all of them see
    the same dropout masks (DropCov's channel dropout included); afterwards the random streams,
    buffers and module counters are restored (:func:`mmgcp.analysis.preserved_training_state`).
    The batch is copied first: the data preprocessor may write to its data samples.

    Args:
        model (nn.Module): An mmengine ``BaseModel`` (not a wrapper such as DDP).
        data_batch (dict | tuple | list): A batch as the train dataloader yields it.
        split_module (str): Name of the module whose output is ``y``, e.g. ``'backbone.maxpool'``.
        etas (Sequence[float]): Step sizes.

    Returns:
        LandscapeProbe: ``losses`` and ``grad_diffs`` of shape (len(etas),), ``L(y)``, ``||g||``.
    """
    module = get_split_module(model, split_module)
    # Eager checks: the large steps may overflow on purpose, which is no training failure for
    # NonFiniteCheckHook to report, and forward_loss expects NonFiniteError at once.
    with preserved_training_state(model), eager_nonfinite_checks():
        data = model.data_preprocessor(copy.deepcopy(data_batch), True)
        rng_state = capture_rng_state()
        split = _ActivationSplit(module, split_module)
        try:
            split.forward_loss(model, data, None)
            if split.captured is None:
                raise RuntimeError(f"The split module '{split_module}' did not run in the "
                                   'forward pass; choose a module on the path to the loss.')
            return probe_landscape(
                lambda y: split.forward_loss(model, data, y),
                split.captured,
                etas,
                before_eval=lambda: restore_rng_state(rng_state))
        finally:
            split.handle.remove()


def get_split_module(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name``, or an error listing the top-level names."""
    try:
        return model.get_submodule(name)
    except AttributeError:
        top = [n for n, _ in model.named_children()]
        raise ValueError(f"The model has no module '{name}' to split at; use a dotted name from "
                         f"model.named_modules(), e.g. 'backbone.maxpool' for mmpretrain's "
                         f'ResNet (top-level modules: {top}).') from None


@HOOKS.register_module()
class LossLandscapeHook(Hook):
    """Probe the loss landscape and gradient predictiveness every ``interval`` iterations.

    Runs in ``before_train_iter``: the probe sees the mini-batch of the coming step at the weights
    before that step, the paper's "current mini-batch at the current weights"; the probe logged at
    step ``s`` is made after ``s`` parameter updates (``s = 0``: the initial weights). The model
    stays in train mode, in full precision (outside the optimizer wrapper's autocast). Training is
    unchanged: parameters and their ``.grad`` are never written, and the random streams, buffers
    (BatchNorm statistics) and module counters are restored after each probe; the optimizer is not
    touched.

    Logged through ``runner.visualizer.add_scalars`` at ``step=runner.iter`` (one JSON line in
    ``vis_data/scalars.json``; TensorBoard/W&B when their backends are enabled):
    ``landscape/{loss,grad_norm}`` (``L(y)`` and ``||g||``),
    ``landscape/{loss,grad_diff}_{min,max}`` (the bands), ``landscape/num_nonfinite`` (steps whose
    loss overflowed, left out of the bands) and, with ``log_curves``, the full curves as
    ``landscape_loss_curve/NN`` and ``landscape_grad_diff_curve/NN`` (``NN`` indexes ``etas``).
    ``tools/analysis/plot_landscape.py`` plots the bands of several runs.

    Args:
        interval (int): Probe when ``runner.iter % interval == 0``. The paper uses 500 for
            ResNets on ImageNet. Defaults to 500.
        split_module (str): Name of the module whose output is the probed activation ``y``.
            Defaults to ``'backbone.maxpool'`` (the end of mmpretrain's ResNet stem).
        eta_range (Sequence[float]): First and last step size. Defaults to ``(0.1, 75.0)``
            (ResNets; the paper uses ``(0.045, 1.5)`` for MobileNetV2).
        num_steps (int): Step sizes, evenly spaced over ``eta_range``. Defaults to 50.
        log_curves (bool): Also log every point of the two curves. Defaults to True.
    """

    priority = 'NORMAL'

    def __init__(self,
                 interval: int = 500,
                 split_module: str = 'backbone.maxpool',
                 eta_range: Sequence[float] = (0.1, 75.0),
                 num_steps: int = 50,
                 log_curves: bool = True):
        if not isinstance(interval, int) or interval < 1:
            raise ValueError(f'interval must be a positive integer, got {interval!r}.')
        self.interval = interval
        self.split_module = split_module
        self.etas = linear_etas(eta_range, num_steps)
        self.log_curves = log_curves
        self.last_probe: Optional[LandscapeProbe] = None

    @staticmethod
    def _unwrap(model: nn.Module) -> nn.Module:
        return model.module if is_model_wrapper(model) else model

    def before_train(self, runner) -> None:
        """Check the split point and the model interface before the first iteration."""
        model = self._unwrap(runner.model)
        get_split_module(model, self.split_module)
        for attr in ('data_preprocessor', 'parse_losses'):
            if not hasattr(model, attr):
                raise TypeError(f'LossLandscapeHook needs an mmengine BaseModel with '
                                f'`{attr}`; got {type(model).__name__}.')
        runner.logger.info(
            f'LossLandscapeHook: every {self.interval} iterations, split after '
            f"'{self.split_module}', {len(self.etas)} step sizes from {self.etas[0]:g} to "
            f'{self.etas[-1]:g}.')

    def before_train_iter(self, runner, batch_idx: int, data_batch: Any = None) -> None:
        """Probe the coming step's batch at the current weights every ``interval`` iterations."""
        if runner.iter % self.interval != 0 or data_batch is None:
            return
        start = time.time()
        probe = probe_model_landscape(
            self._unwrap(runner.model), data_batch, self.split_module, self.etas)
        self.last_probe = probe
        scalars = self.scalars(probe)
        runner.visualizer.add_scalars(scalars, step=runner.iter)
        nonfinite = scalars['landscape/num_nonfinite']
        runner.logger.info(
            f"Landscape probe at iteration {runner.iter}: loss {scalars['landscape/loss_min']:.4f} "
            f"to {scalars['landscape/loss_max']:.4f}, grad diff "
            f"{scalars['landscape/grad_diff_min']:.4g} to {scalars['landscape/grad_diff_max']:.4g}"
            + (f', {nonfinite} non-finite step(s)' if nonfinite else '')
            + f' ({time.time() - start:.1f} s)')

    def scalars(self, probe: LandscapeProbe) -> Dict[str, float]:
        """The scalars logged for one probe; the bands ignore non-finite points (counted)."""
        finite = probe.losses.isfinite() & probe.grad_diffs.isfinite()
        losses, diffs = probe.losses[finite], probe.grad_diffs[finite]
        nan = float('nan')
        scalars = {
            'landscape/loss': float(probe.loss),
            'landscape/grad_norm': float(probe.grad_norm),
            'landscape/loss_min': float(losses.min()) if len(losses) else nan,
            'landscape/loss_max': float(losses.max()) if len(losses) else nan,
            'landscape/grad_diff_min': float(diffs.min()) if len(diffs) else nan,
            'landscape/grad_diff_max': float(diffs.max()) if len(diffs) else nan,
            'landscape/num_nonfinite': int((~finite).sum()),
        }
        if self.log_curves:
            for i, (loss, diff) in enumerate(zip(probe.losses.tolist(),
                                                 probe.grad_diffs.tolist())):
                scalars[f'landscape_loss_curve/{i:02d}'] = loss
                scalars[f'landscape_grad_diff_curve/{i:02d}'] = diff
        return scalars
