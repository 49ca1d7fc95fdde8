# Copyright (c) mmgcp contributors. All rights reserved.
"""Say clearly when a run's filesystem is too full for its checkpoints.

Without this, ``tools/train.py`` on a nearly full disk trains until its first checkpoint and dies
in the checkpoint hook with a bare ``OSError: [Errno 28] No space left on device``. Now:

- before training, :func:`check_space_for_checkpoint` compares the free space with a lower bound
  of one checkpoint's size (the model's weights and buffers plus the optimizer's per-parameter
  state) and stops at once when it clearly does not fit;
- a checkpoint write that fails for lack of space (:class:`~mmgcp.utils.AtomicLocalBackend`)
  raises :class:`NoSpaceForCheckpointError`, which names the file, the space it needs and has,
  the previous checkpoint (left intact: checkpoints are written atomically) and how to resume;
- :func:`exit_on_no_space` turns that, and any other "no space left" error of the run, into that
  message instead of a traceback.
"""
import contextlib
import errno
import os
import os.path as osp
from typing import Any, Iterator, Optional

import torch

#: ``errno`` values that mean the filesystem (or the user's quota on it) is full.
NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# Tensors of per-parameter state that torch optimizers keep (a lower bound: options that add
# more, e.g. amsgrad, are counted where they are set).
_OPTIMIZER_STATES = {'SGD': 1, 'Adam': 2, 'AdamW': 2, 'NAdam': 2, 'RAdam': 2, 'Adamax': 2,
                     'Lamb': 2, 'Adagrad': 1, 'RMSprop': 1, 'Adadelta': 2}


class NoSpaceForCheckpointError(OSError):
    """A checkpoint does not fit on its filesystem; the message says what to do.

    Args:
        message (str): The full explanation.
    """

    def __init__(self, message: str):
        super().__init__(errno.ENOSPC, message)

    def __str__(self) -> str:
        return self.strerror

    def __reduce__(self):
        # Rebuilt from the message in the process that receives it (OSError would pass errno).
        return type(self), (self.strerror, )


def format_bytes(num_bytes: float) -> str:
    """``'5.7 MB'``: a size in decimal units."""
    for unit in ('bytes', 'kB', 'MB', 'GB'):
        if abs(num_bytes) < 1000 or unit == 'GB':
            return f'{num_bytes:.0f} {unit}' if unit == 'bytes' else f'{num_bytes:.1f} {unit}'
        num_bytes /= 1000
    return f'{num_bytes:.1f} TB'  # pragma: no cover - the loop returns


def free_bytes(path: str) -> int:
    """Space an unprivileged write can still use on the filesystem of ``path`` (or of its
    nearest existing parent, for a folder not created yet)."""
    path = osp.abspath(path)
    while not osp.exists(path) and osp.dirname(path) != path:
        path = osp.dirname(path)
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def estimate_checkpoint_bytes(model: torch.nn.Module, optimizer_cfg: Optional[dict]) -> dict:
    """A lower bound of the size of one training checkpoint of ``model``.

    Args:
        model (nn.Module): The model (a DDP-style wrapper is unwrapped).
        optimizer_cfg (dict, optional): ``optim_wrapper.optimizer`` of the config.

    Returns:
        dict: ``weights`` (the state dict's tensors), ``optimizer`` (its per-parameter state for
        the trainable parameters) and ``total``, in bytes.
    """
    model = getattr(model, 'module', model)
    weights = sum(t.numel() * t.element_size() for t in model.state_dict().values()
                  if isinstance(t, torch.Tensor))
    trainable = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    optimizer_cfg = optimizer_cfg or {}
    kind = str(optimizer_cfg.get('type', '')).split('.')[-1]
    states = _OPTIMIZER_STATES.get(kind, 0)
    if kind == 'SGD' and not optimizer_cfg.get('momentum'):
        states = 0
    if optimizer_cfg.get('amsgrad'):
        states += 1
    if kind == 'RMSprop':
        states += bool(optimizer_cfg.get('momentum')) + bool(optimizer_cfg.get('centered'))
    optimizer = states * trainable
    return dict(weights=weights, optimizer=optimizer, total=weights + optimizer)


def _previous_checkpoint_advice(folder: str) -> str:
    from .resume import find_resumable_checkpoint
    previous = find_resumable_checkpoint(folder) if osp.isdir(folder) else None
    if previous is None:
        return ('There is no earlier checkpoint in it: after freeing space, start the run '
                'again.')
    return (f'The previous checkpoint, {previous}, is intact (checkpoints are written to a '
            'temporary file and renamed into place). After freeing space, resume from it: run '
            'the same tools/train.py command with --resume (tools/benchmark_transfer.py resumes '
            'by itself when started again).')


def no_space_for_checkpoint(filepath: str, needed: int) -> NoSpaceForCheckpointError:
    """The error for a checkpoint write that failed for lack of space (nothing was written).

    Args:
        filepath (str): The checkpoint that could not be written.
        needed (int): Its size in bytes.

    Returns:
        NoSpaceForCheckpointError: The error to raise.
    """
    folder = osp.dirname(osp.abspath(filepath))
    free = free_bytes(folder)
    return NoSpaceForCheckpointError(
        f'could not write the checkpoint {filepath}: no space left on the device of {folder}. '
        f'The checkpoint needs {format_bytes(needed)}, the filesystem has {format_bytes(free)} '
        f'free; free at least {format_bytes(max(needed - free, 0))} there (or pass --work-dir '
        f'on a filesystem with room). Nothing of {osp.basename(filepath)} was written. '
        + _previous_checkpoint_advice(folder))


def checkpoint_folder(cfg: Any) -> str:
    """Where the config's checkpoint hook writes: its ``out_dir`` or the work dir."""
    hook = (cfg.get('default_hooks') or {}).get('checkpoint') or {}
    out_dir = hook.get('out_dir') if isinstance(hook, dict) else None
    if isinstance(out_dir, str) and '://' not in out_dir:
        return osp.join(out_dir, osp.basename(cfg.work_dir.rstrip(osp.sep)))
    return cfg.work_dir


def check_space_for_checkpoint(model: torch.nn.Module, cfg: Any) -> Optional[dict]:
    """Raise before training when one checkpoint clearly does not fit where it is written.

    Args:
        model (nn.Module): The built model.
        cfg (Config): The config (``work_dir``, ``default_hooks.checkpoint``,
            ``optim_wrapper.optimizer``).

    Returns:
        dict | None: The estimate (see :func:`estimate_checkpoint_bytes`) with ``free`` and
        ``folder`` added; None when the config writes no local checkpoints.

    Raises:
        NoSpaceForCheckpointError: The free space is below the estimate (a lower bound).
    """
    hook = (cfg.get('default_hooks') or {}).get('checkpoint')
    if not isinstance(hook, dict) or '://' in str(hook.get('out_dir') or ''):
        return None
    optimizer_cfg = (cfg.get('optim_wrapper') or {}).get('optimizer')
    estimate = estimate_checkpoint_bytes(model, optimizer_cfg)
    folder = checkpoint_folder(cfg)
    free = free_bytes(folder)
    if free < estimate['total']:
        raise NoSpaceForCheckpointError(
            f'not enough space for a checkpoint in {folder}: the filesystem has '
            f"{format_bytes(free)} free, one checkpoint of this model needs at least "
            f"{format_bytes(estimate['total'])} (weights {format_bytes(estimate['weights'])}, "
            f"optimizer state {format_bytes(estimate['optimizer'])}). Training would run until "
            'its first checkpoint and then fail, so it was not started. Free space there, or '
            'pass --work-dir on a filesystem with room.')
    return dict(estimate, free=free, folder=folder)


@contextlib.contextmanager
def exit_on_no_space(work_dir: str) -> Iterator[None]:
    """For command-line tools: a full filesystem ends the tool with an explanation, not a
    traceback.

    Args:
        work_dir (str): The run's folder, for the advice on earlier checkpoints.
    """
    try:
        yield
    except NoSpaceForCheckpointError as exc:
        raise SystemExit(f'error: {exc}') from None
    except OSError as exc:
        if exc.errno not in NO_SPACE_ERRNOS:
            raise
        what = exc.filename or 'a file of the run (log, config copy or visualisation data)'
        raise SystemExit(
            f'error: could not write {what}: no space left on the device of {work_dir} '
            f'({format_bytes(free_bytes(work_dir))} free; {exc}). '
            + _previous_checkpoint_advice(work_dir)) from None
