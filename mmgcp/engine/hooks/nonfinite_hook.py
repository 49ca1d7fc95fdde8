# Copyright (c) mmgcp contributors. All rights reserved.
"""Report the NaN/Inf samples that the GCP modules recorded on the device during training."""
from typing import Iterator, List, Optional, Tuple

import torch.nn as nn
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmgcp.ops import NonFiniteError, NonFiniteRecord, count_skipped_samples, format_indices
from mmgcp.registry import HOOKS


def nonfinite_records(model: nn.Module) -> Iterator[Tuple[str, nn.Module, NonFiniteRecord]]:
    """The GCP modules of ``model`` that own a :class:`~mmgcp.ops.NonFiniteRecord`.

    Yields:
        tuple[str, nn.Module, NonFiniteRecord]: Module name (without a wrapper's ``module.``),
        the module and its record.
    """
    if is_model_wrapper(model):
        model = model.module
    for name, module in model.named_modules():
        record = getattr(module, 'nonfinite_record', None)
        if isinstance(record, NonFiniteRecord):
            yield name, module, record


def check_nonfinite_records(model: nn.Module, where: str = '') -> List[str]:
    """Read every record of ``model`` (a host sync), report and reset it.

    A module with ``'raise'`` (the default of every GCP module) makes it raise
    :class:`~mmgcp.ops.NonFiniteError` naming the module, the operator and the batch indices;
    one with ``'skip'`` gets its samples counted in ``num_skipped`` (and in
    :func:`mmgcp.ops.num_skipped_samples`) and a warning is logged.

    Args:
        model (nn.Module): The model (or its wrapper).
        where (str): Where training is, for the messages (e.g. ``'iteration 12'``).

    Returns:
        list[str]: The warnings about skipped samples (empty when everything was finite).
    """
    warnings, errors = [], []
    for name, module, record in nonfinite_records(model):
        found = record.collect()
        if not found:
            continue
        skipped = max(num_bad for _, num_bad, _ in found)
        details = '; '.join(f'{op}: {num_bad} bad sample(s), batch indices '
                            f'{format_indices(indices)}' for op, num_bad, indices in found)
        message = (f"{name or type(module).__name__} ({type(module).__name__}) got NaN or Inf "
                   f'{where}: {details}')
        if record.mode == 'raise':
            errors.append(message)
        else:
            if isinstance(getattr(module, 'num_skipped', None), int):
                module.num_skipped += skipped
            count_skipped_samples(skipped)
            warnings.append(message + ' (skipped: their outputs were set to zero)')
    if errors:
        raise NonFiniteError(
            '; '.join(errors) + '. Find what produced them (learning rate, data, fp16 overflow), '
            "or set nonfinite='skip' on the module to zero these samples and count them.")
    return warnings


def add_nonfinite_check_hook(cfg: Config, interval: int = 1) -> Config:
    """Add :class:`NonFiniteCheckHook` to ``cfg.custom_hooks`` unless it is there already.

    The configs that build GCP modules register the hook themselves (so that any trainer uses
    it); such a config is left as it is, its own ``interval`` included, and never gets a second
    hook.

    Args:
        cfg (Config): The config, changed in place when the hook is missing.
        interval (int): The interval of an added hook. Defaults to 1.

    Returns:
        Config: The same config.
    """
    hooks = cfg.get('custom_hooks') or []
    if any(_is_nonfinite_check_hook(hook) for hook in hooks):
        return cfg
    cfg.custom_hooks = list(hooks) + [dict(type='mmgcp.NonFiniteCheckHook', interval=interval)]
    return cfg


def _is_nonfinite_check_hook(hook) -> bool:
    """Whether a ``custom_hooks`` entry (a config dict or a built hook) is the NaN/Inf check."""
    if isinstance(hook, NonFiniteCheckHook):
        return True
    hook_type = hook.get('type') if isinstance(hook, dict) else None
    return hook_type is NonFiniteCheckHook or hook_type in ('NonFiniteCheckHook',
                                                            'mmgcp.NonFiniteCheckHook')


@HOOKS.register_module()
class NonFiniteCheckHook(Hook):
    """Let the GCP modules check for NaN/Inf without a host sync, and report what they found.

    Before the run the hook switches every :class:`~mmgcp.ops.NonFiniteRecord` of the model to
    deferred mode: the GCP operators then only record per-sample flags on the device. After
    every ``interval`` training iterations (and after every validation or test iteration, and
    at the end of each epoch and of the run) it reads them, where the logger has just
    synchronised anyway to read the losses. A module with ``nonfinite='raise'`` stops the run
    with :class:`~mmgcp.ops.NonFiniteError` naming the module, the operator and the batch
    indices (the optimizer step of that iteration has been taken; earlier checkpoints are
    intact); ``'skip'`` logs a warning and counts the samples. Every mmgcp config that builds a
    GCP module registers it (``custom_hooks=[dict(type='mmgcp.NonFiniteCheckHook')]``), so
    ``mim train`` and the libraries' own tools use it too; ``tools/train.py`` adds it to any
    other config.

    Args:
        interval (int): Check every ``interval`` training iterations. Defaults to 1.
    """

    priority = 'NORMAL'

    def __init__(self, interval: int = 1):
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(f'NonFiniteCheckHook expects interval to be an integer >= 1, got '
                             f'{interval!r}.')
        self.interval = interval
        self._model: Optional[nn.Module] = None

    def before_run(self, runner) -> None:
        self._model = runner.model
        for _, _, record in nonfinite_records(runner.model):
            record.deferred = True

    def _check(self, runner, where: str) -> None:
        for message in check_nonfinite_records(runner.model, where):
            print_log(message, logger='current', level=30)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self.every_n_train_iters(runner, self.interval):
            self._check(runner, f'in training (iterations up to {runner.iter + 1})')

    def after_train_epoch(self, runner) -> None:
        self._check(runner, f'in training epoch {runner.epoch + 1}')

    def after_val_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self._check(runner, f'in validation batch {batch_idx}')

    def after_test_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self._check(runner, f'in test batch {batch_idx}')

    def after_run(self, runner) -> None:
        try:
            self._check(runner, 'at the end of the run')
        finally:
            for _, _, record in nonfinite_records(runner.model):
                record.deferred = False
