# Copyright (c) mmgcp contributors. All rights reserved.
"""Save a checkpoint and stop when the job is told it is about to be stopped.

A cluster stops a training job at its time limit (Slurm sends ``--signal=USR2@<s>`` that many
seconds before) or when it preempts it (SIGTERM, then SIGKILL after a grace period). Without a
checkpoint taken then, the job loses everything since its last periodic checkpoint -- up to a
whole epoch of Mask R-CNN, or 16k iterations of a 160k UperNet. :class:`SignalCheckpointHook`
turns such a signal into a checkpoint at the end of the iteration that is running, written
atomically like the periodic ones, and stops training with :class:`TrainingInterrupted`
(``tools/train.py`` exits with :data:`INTERRUPTED_EXIT_CODE`). The next ``tools/train.py
--resume`` continues from there: an iteration-based loop advances its data as mmengine does, an
epoch-based loop skips the batches of the interrupted epoch it had already trained on (the
checkpoint is ``epoch_<E>_iter_<I>.pth``: E epochs done, I iterations done).
"""
import os
import signal
import threading
from typing import Optional, Sequence

import torch
import torch.distributed as dist
from mmengine.hooks import CheckpointHook, Hook
from mmengine.runner import EpochBasedTrainLoop

from mmgcp.registry import HOOKS

#: Exit status of ``tools/train.py`` after it saved a checkpoint on a signal (``EX_TEMPFAIL``:
#: try again, it resumes).
INTERRUPTED_EXIT_CODE = 75
#: The last stop of training in this process: ``signal`` and ``checkpoint`` (for a caller that
#: ran ``tools/train.py`` in process and must know why it stopped, e.g. a Slurm job).
LAST_INTERRUPTION: dict = {}


class TrainingInterrupted(Exception):
    """Training stopped on a signal after saving a checkpoint.

    Args:
        signal_name (str): The signal (``'SIGUSR2'``, ``'SIGTERM'``).
        checkpoint (str): The checkpoint it saved.
    """

    def __init__(self, signal_name: str, checkpoint: str):
        super().__init__(f'stopped on {signal_name} after saving {checkpoint}; resume with '
                         'tools/train.py ... --resume')
        self.signal_name = signal_name
        self.checkpoint = checkpoint


def _signal_number(name: str) -> int:
    number = getattr(signal, name if name.startswith('SIG') else f'SIG{name}', None)
    if not isinstance(number, signal.Signals):
        raise ValueError(f'unknown signal {name!r}; use names such as SIGUSR2 or SIGTERM.')
    return int(number)


@HOOKS.register_module()
class SignalCheckpointHook(Hook):
    """Save a checkpoint and stop training at the end of the current iteration when one of
    ``signals`` arrives; on resume, an epoch-based loop skips what it already trained.

    The signal handler only records the signal; the checkpoint is written from
    ``after_train_iter``, between two iterations, so model, optimizer and schedulers are
    consistent. In distributed training the ranks agree on the iteration to stop at (a 1-element
    all-reduce every ``sync_interval`` iterations), so no rank waits on a collective another
    rank has left. Handlers are installed for the duration of training only (the previous ones
    are restored), and only from the main thread.

    Args:
        signals (Sequence[str]): Signals that stop training. Defaults to
            ``('SIGUSR2', 'SIGTERM')``: Slurm's signal before the time limit (as submitit
            and ``--signal=USR2@...`` use it) and preemption / ``scancel`` / ``kill``.
        sync_interval (int): Iterations between the ranks' agreement in distributed training.
            Defaults to 1.
    """

    priority = 'VERY_LOW'  # after the logger and the periodic checkpoint of the same iteration

    def __init__(self, signals: Sequence[str] = ('SIGUSR2', 'SIGTERM'), sync_interval: int = 1):
        if sync_interval < 1:
            raise ValueError(f'sync_interval must be >= 1, got {sync_interval}.')
        self.signals = [_signal_number(name) for name in signals]
        self.sync_interval = sync_interval
        self.requested: Optional[int] = None
        self._previous = {}
        self._skip_batches = 0

    # Signals -------------------------------------------------------------------------------
    def _record(self, signum, frame) -> None:
        if os.getpid() != self._pid:
            # A forked child (a dataloader worker) inherited the handler, and Slurm signals every
            # process of the job: it must not die now (the training process would fail on its
            # lost worker before saving); it ends with the training process.
            signal.signal(signum, signal.SIG_IGN)
            return
        self.requested = signum

    def before_train(self, runner) -> None:
        self.requested = None
        self._pid = os.getpid()
        if threading.current_thread() is threading.main_thread():
            for signum in self.signals:
                self._previous[signum] = signal.signal(signum, self._record)
        else:
            runner.logger.warning('SignalCheckpointHook: training runs outside the main thread, '
                                  'where signal handlers cannot be installed; a signal will '
                                  'stop it without a checkpoint.')
        loop = runner.train_loop
        if isinstance(loop, EpochBasedTrainLoop) and runner.iter > 0:
            # resumed from epoch_<E>_iter_<I>.pth: I - E * len iterations of epoch E are done
            self._skip_batches = runner.iter - runner.epoch * len(loop.dataloader)

    def after_train(self, runner) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    # Resume inside an epoch -----------------------------------------------------------------
    def before_train_epoch(self, runner) -> None:
        if self._skip_batches <= 0:
            return
        skip, self._skip_batches = self._skip_batches, 0
        batch_sampler = runner.train_loop.dataloader.batch_sampler
        base = type(batch_sampler)

        class _Skipping(base):  # the DataLoader forbids replacing its batch sampler
            def __iter__(self):
                iterator = base.__iter__(self)
                for _ in range(skip):
                    next(iterator, None)
                self.__class__ = base  # only this epoch
                yield from iterator

        batch_sampler.__class__ = _Skipping
        runner.logger.info(f'SignalCheckpointHook: resumed inside epoch {runner.epoch + 1}; '
                           f'skipping its {skip} batches trained before the interruption.')

    # Stop ------------------------------------------------------------------------------------
    def _agreed(self, runner) -> Optional[int]:
        if not (dist.is_available() and dist.is_initialized()):
            return self.requested
        if (runner.iter + 1) % self.sync_interval:
            return None
        device = 'cuda' if torch.cuda.is_available() and dist.get_backend() == 'nccl' else 'cpu'
        flag = torch.tensor([self.requested or 0], dtype=torch.int64, device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return int(flag.item()) or None

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        signum = self._agreed(runner)
        if signum is None:
            return
        done_iters = runner.iter + 1
        if isinstance(runner.train_loop, EpochBasedTrainLoop):
            filename = f'epoch_{runner.epoch}_iter_{done_iters}.pth'
        else:
            filename = f'iter_{done_iters}.pth'
        checkpoint_hook = next((h for h in runner.hooks if isinstance(h, CheckpointHook)), None)
        backend_args = getattr(checkpoint_hook, 'backend_args', None)
        runner.save_checkpoint(runner.work_dir, filename, by_epoch=False,
                               backend_args=backend_args)
        path = f'{runner.work_dir}/{filename}'
        if runner.rank == 0:
            with open(f'{runner.work_dir}/last_checkpoint', 'w') as f:
                f.write(path)
        if dist.is_available() and dist.is_initialized():
            dist.barrier()
        name = signal.Signals(signum).name
        LAST_INTERRUPTION.update(signal=name, checkpoint=path)
        runner.logger.warning(f'SignalCheckpointHook: {name} received; saved {path} after '
                              f'{done_iters} iterations and stopped. Resume with --resume.')
        raise TrainingInterrupted(name, path)
