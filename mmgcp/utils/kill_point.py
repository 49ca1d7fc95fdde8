# Copyright (c) mmgcp contributors. All rights reserved.
"""Deterministic kills for testing resumption: ``MMGCP_KILL_AT=<point>:<text>`` makes the process
group SIGKILL itself when it reaches ``<point>`` at a place whose description contains ``<text>``
(e.g. ``checkpoint_written:gap/pretrain/epoch_1.pth``).

Points: ``checkpoint_write`` (a checkpoint is about to be written), ``checkpoint_partial`` (half
of it is in the temporary file), ``checkpoint_written`` (the file is in place, mmengine's
``last_checkpoint`` marker is not yet updated) and ``evaluation`` (``tools/test.py`` built the
model and checked the checkpoint). The whole process group is killed, as a scheduler kills a job:
start the job in its own session (``subprocess.Popen(..., start_new_session=True)``).
"""
import os
import signal

ENV = 'MMGCP_KILL_AT'
POINTS = ('checkpoint_write', 'checkpoint_partial', 'checkpoint_written', 'evaluation')


def kill_armed(point: str, where: str = '') -> bool:
    """Whether ``MMGCP_KILL_AT`` asks for a kill at ``point`` for ``where``."""
    spec = os.environ.get(ENV, '')
    if not spec:
        return False
    name, _, text = spec.partition(':')
    if name not in POINTS:
        raise ValueError(f'{ENV}={spec!r}: unknown point {name!r}; known: {POINTS}.')
    return name == point and text in where


def kill_point(point: str, where: str = '') -> None:
    """SIGKILL the process group when ``MMGCP_KILL_AT`` names this point (no-op otherwise)."""
    if kill_armed(point, where):
        os.killpg(os.getpgrp(), signal.SIGKILL)
