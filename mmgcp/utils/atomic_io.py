# Copyright (c) mmgcp contributors. All rights reserved.
"""Atomic checkpoint writes: a file backend for mmengine that writes to a temporary file in the
same folder and renames it into place, so neither a kill nor a full disk leaves a truncated
checkpoint.

mmengine's ``CheckpointHook`` writes ``epoch_N.pth`` with a plain ``open(..., 'wb')``; a kill in
the middle leaves a truncated file that ``--resume`` then fails on. :func:`use_atomic_checkpoints`
points the config's checkpoint hook at :class:`AtomicLocalBackend` (``tools/train.py`` does this
for every run). A write that fails for lack of space raises
:class:`~mmgcp.utils.disk_space.NoSpaceForCheckpointError`, which says which file, how much space
it needs and has, and which earlier checkpoint to resume from.
"""
import os
import os.path as osp
import uuid
from typing import Union

from mmengine.config import Config
from mmengine.fileio import LocalBackend, register_backend

from .disk_space import NO_SPACE_ERRNOS, no_space_for_checkpoint
from .kill_point import kill_armed, kill_point

BACKEND = 'mmgcp_atomic_local'


class AtomicLocalBackend(LocalBackend):
    """mmengine's local backend with atomic :meth:`put` and :meth:`put_text` (temporary file +
    ``os.replace``)."""

    def put(self, obj: bytes, filepath: Union[str, os.PathLike]) -> None:
        """Write bytes to ``filepath`` atomically; the parent folder is created if needed.

        Raises:
            NoSpaceForCheckpointError: The filesystem (or the quota) is full; ``filepath`` and
                the temporary file are left as they were (absent or the previous version).
        """
        filepath = str(filepath)
        folder = osp.dirname(osp.abspath(filepath))
        os.makedirs(folder, exist_ok=True)
        kill_point('checkpoint_write', filepath)
        # Same folder, so that os.replace is an atomic rename; not mkstemp, whose private mode
        # (0600) would stick to the checkpoint.
        tmp = osp.join(folder, f'{osp.basename(filepath)}.{uuid.uuid4().hex[:12]}.tmp')
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            with os.fdopen(fd, 'wb') as f:
                if kill_armed('checkpoint_partial', filepath):
                    f.write(obj[:len(obj) // 2])
                    f.flush()
                    kill_point('checkpoint_partial', filepath)
                f.write(obj)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, filepath)
        except BaseException as exc:
            if osp.exists(tmp):
                os.remove(tmp)
            if isinstance(exc, OSError) and exc.errno in NO_SPACE_ERRNOS:
                raise no_space_for_checkpoint(filepath, len(obj)) from exc
            raise
        kill_point('checkpoint_written', filepath)

    def put_text(self, obj: str, filepath: Union[str, os.PathLike],
                 encoding: str = 'utf-8') -> None:
        """Write text atomically (mmengine's ``last_checkpoint`` marker goes through here)."""
        self.put(obj.encode(encoding), filepath)


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
