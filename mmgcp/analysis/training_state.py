# Copyright (c) mmgcp contributors. All rights reserved.
"""Save and restore what a side computation may change: random streams and module state.

A probe that runs extra forward passes in train mode updates BatchNorm running statistics, draws
random numbers (dropout masks, DropCov's channel dropout, batch augmentations) and may update
counters that modules keep as attributes. Wrapping it in :func:`preserved_training_state` puts all
of them back, so training continues exactly as without it.
"""
import random
from contextlib import contextmanager
from typing import Any, Dict, Iterator, Optional

import numpy as np
import torch
import torch.nn as nn


def capture_rng_state() -> Dict[str, Any]:
    """Snapshot of every random stream training code commonly draws from.

    Returns:
        dict: ``torch`` (CPU generator), ``cuda`` (one state per device, only when CUDA is
        initialised), ``python`` (:mod:`random`) and ``numpy`` (legacy global generator).
    """
    state = dict(
        torch=torch.get_rng_state(), python=random.getstate(), numpy=np.random.get_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Dict[str, Any]) -> None:
    """Put the random streams back to a snapshot of :func:`capture_rng_state`."""
    torch.set_rng_state(state['torch'])
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    if 'cuda' in state:
        torch.cuda.set_rng_state_all(state['cuda'])


#: Types of module attributes saved by :func:`preserved_training_state` (counters, last rates).
PLAIN_ATTRIBUTE_TYPES = (bool, int, float)


@contextmanager
def preserved_training_state(model: Optional[nn.Module] = None) -> Iterator[None]:
    """Run a block, then restore the random streams and ``model``'s state to their values before.

    Restored: the random streams of :func:`capture_rng_state`; every buffer of ``model``
    (BatchNorm running statistics, ``num_batches_tracked``), copied back in place so references
    held elsewhere stay valid; and every ``bool``/``int``/``float`` attribute of its modules
    (``training`` flags, counters such as ``GCPNeck.num_skipped`` or ``last_drop_rate``).
    Parameters are not saved: a probe must not write to them (it differentiates with
    :func:`torch.autograd.grad`, which leaves ``.grad`` untouched).

    Args:
        model (nn.Module, optional): The model whose state to restore. Defaults to None (random
            streams only).
    """
    rng_state = capture_rng_state()
    buffers, attributes = {}, []
    if model is not None:
        buffers = {name: buf.detach().clone() for name, buf in model.named_buffers()}
        attributes = [(module, {
            key: value
            for key, value in vars(module).items() if type(value) in PLAIN_ATTRIBUTE_TYPES
        }) for module in model.modules()]
    try:
        yield
    finally:
        if model is not None:
            with torch.no_grad():
                for name, buf in model.named_buffers():
                    if name in buffers:
                        buf.copy_(buffers[name])
            for module, values in attributes:
                vars(module).update(values)
        restore_rng_state(rng_state)
