# Copyright (c) mmgcp contributors. All rights reserved.
"""Find the checkpoint a killed run resumes from.

mmengine resumes from the file its ``last_checkpoint`` marker names. The marker is written after
the checkpoint, so a kill between the two leaves a newer checkpoint unused (or, before the first
marker, makes ``--resume`` start over), and a kill during a non-atomic write leaves a truncated
file that ``--resume`` fails on. :func:`find_resumable_checkpoint` looks at the files themselves.
"""
import os
import os.path as osp
import re
import zipfile
from typing import List, Optional

from .safe_checkpoint import (
    UntrustedCheckpointError,
    check_checkpoint_trusted,
    load_checkpoint_file,
)

#: ``epoch_N.pth`` / ``iter_N.pth`` (mmengine's periodic checkpoints) and ``epoch_E_iter_I.pth``
#: (E epochs and I iterations done: saved inside epoch E + 1 on a signal,
#: :class:`mmgcp.engine.SignalCheckpointHook`), ordered by (N or E, I).
_STEP = re.compile(r'^(?:epoch|iter)_(\d+)(?:_iter_(\d+))?\.pth$')


def is_complete_checkpoint(path: str) -> bool:
    """Whether ``path`` is a whole checkpoint file (not truncated by a kill).

    ``torch.save`` writes a zip archive whose central directory comes last, so a truncated file
    is not a readable archive. Files in the legacy (non-zip) format are loaded to check them
    (:func:`load_checkpoint_file`: a file that needs untrusted types is refused, not skipped).

    Args:
        path (str): The file.

    Returns:
        bool: True when it can be loaded.

    Raises:
        UntrustedCheckpointError: A legacy-format file that needs untrusted types.
    """
    if not osp.isfile(path) or osp.getsize(path) == 0:
        return False
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                return any(name.endswith('data.pkl') for name in archive.namelist())
        except (zipfile.BadZipFile, OSError):
            return False
    try:
        load_checkpoint_file(path, map_location='cpu')
    except UntrustedCheckpointError:
        raise
    except Exception:
        return False
    return True


def _marker_target(work_dir: str) -> Optional[str]:
    marker = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(marker):
        return None
    with open(marker) as f:
        return f.read().strip() or None


def checkpoint_candidates(work_dir: str) -> List[str]:
    """The run's checkpoints, newest first: ``epoch_N.pth`` / ``iter_N.pth`` by N (then by
    modification time), plus the file mmengine's ``last_checkpoint`` marker names."""
    paths = set()
    if osp.isdir(work_dir):
        paths.update(osp.join(work_dir, name) for name in os.listdir(work_dir)
                     if _STEP.match(name))
    target = _marker_target(work_dir)
    if target and osp.isfile(target):
        paths.add(target)

    def key(path):
        match = _STEP.match(osp.basename(path))
        if match is None:
            return (-1, -1, osp.getmtime(path))
        return (int(match.group(1)), int(match.group(2) or 0), osp.getmtime(path))

    return sorted(paths, key=key, reverse=True)


def find_resumable_checkpoint(work_dir: str) -> Optional[str]:
    """The newest complete checkpoint of a run folder, or None when there is none.

    Uses the files, not only mmengine's marker: a missing or stale marker does not hide a newer
    checkpoint, and a truncated newest file falls back to the previous one.

    Args:
        work_dir (str): The run's work dir.

    Returns:
        str | None: Path of the checkpoint to resume from.
    """
    for path in checkpoint_candidates(work_dir):
        if is_complete_checkpoint(path):
            return path
    return None


def resolve_resume(cfg, resume: Optional[str]) -> Optional[str]:
    """Set ``cfg.resume`` / ``cfg.load_from`` for ``tools/train.py --resume [PATH]``.

    Args:
        cfg (Config): The config; its ``work_dir`` must be set.
        resume (str, optional): None (no resuming), ``'auto'`` (the newest complete checkpoint of
            the work dir; when there is none, training starts as without ``--resume``, from the
            config's ``load_from`` if it has one) or a checkpoint path.

    Returns:
        str | None: The checkpoint training resumes from.

    Raises:
        UntrustedCheckpointError: The checkpoint needs types outside the allowlist and is not
            trusted (raised here, before the Runner is built, not when it loads the file).
    """
    if resume is None:
        return None
    if resume == 'auto':
        checkpoint = find_resumable_checkpoint(cfg.work_dir)
        cfg.resume = checkpoint is not None
        if checkpoint is not None:
            check_checkpoint_trusted(checkpoint)
            cfg.load_from = checkpoint
        return checkpoint
    if not is_complete_checkpoint(resume):
        previous = find_resumable_checkpoint(osp.dirname(resume) or '.')
        raise FileNotFoundError(
            f'--resume {resume}: the file is missing or truncated (a kill during its write?). '
            + (f'Resume from {previous}, the newest complete checkpoint of its folder, or pass '
               '--resume without a path.' if previous else
               'Its folder has no complete checkpoint; train without --resume.'))
    check_checkpoint_trusted(resume)
    cfg.resume = True
    cfg.load_from = resume
    return resume
