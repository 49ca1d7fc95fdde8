# Copyright (c) mmgcp contributors. All rights reserved.
"""Atomic checkpoint writes: a file backend for mmengine that writes to a temporary file in the
same folder and renames it into place, so a kill never leaves a truncated checkpoint.

mmengine's ``CheckpointHook`` writes ``epoch_N.pth`` with a plain ``open(..., 'wb')``; a kill in
the middle leaves a truncated file that ``--resume`` then fails on. :func:`use_atomic_checkpoints`
points the config's checkpoint hook at :class:`AtomicLocalBackend` (``tools/train.py`` does this
for every run).
"""
import os
import os.path as osp
import tempfile
from typing import Union

from mmengine.config import Config
from mmengine.fileio import LocalBackend, register_backend

from .kill_point import kill_armed, kill_point

BACKEND = 'mmgcp_atomic_local'


class AtomicLocalBackend(LocalBackend):
    """mmengine's local backend with atomic :meth:`put` (temporary file + ``os.replace``)."""

    def put(self, obj: bytes, filepath: Union[str, os.PathLike]) -> None:
        """Write bytes to ``filepath`` atomically; the parent folder is created if needed."""
        filepath = str(filepath)
        folder = osp.dirname(osp.abspath(filepath))
        os.makedirs(folder, exist_ok=True)
        kill_point('checkpoint_write', filepath)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=osp.basename(filepath) + '.', suffix='.tmp')
        try:
            with os.fdopen(fd, 'wb') as f:
                if kill_armed('checkpoint_partial', filepath):
                    f.write(obj[:len(obj) // 2])
                    f.flush()
                    kill_point('checkpoint_partial', filepath)
                f.write(obj)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, filepath)
        except BaseException:
            if osp.exists(tmp):
                os.remove(tmp)
            raise
        kill_point('checkpoint_written', filepath)


register_backend(BACKEND, AtomicLocalBackend, force=True)


def use_atomic_checkpoints(cfg: Config) -> bool:
    """Make the config's ``default_hooks.checkpoint`` write through :class:`AtomicLocalBackend`.

    Left alone when the hook is absent, has its own ``backend_args`` / ``file_client_args``, or
    writes to a remote ``out_dir``.

    Args:
        cfg (Config): The config to change in place.

    Returns:
        bool: True when the hook now writes atomically.
    """
    hook = (cfg.get('default_hooks') or {}).get('checkpoint')
    if not isinstance(hook, dict):
        return False
    if hook.get('backend_args') or hook.get('file_client_args'):
        return False
    out_dir = hook.get('out_dir')
    if isinstance(out_dir, str) and '://' in out_dir:
        return False
    hook['backend_args'] = dict(backend=BACKEND)
    return True


def log_tail(path: str, lines: int = 12) -> str:
    """The last ``lines`` lines of a log file, stripped ('' when it cannot be read)."""
    try:
        with open(path, errors='replace') as f:
            return ''.join(f.readlines()[-lines:]).strip()
    except OSError:
        return ''
