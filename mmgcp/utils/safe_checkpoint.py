# Copyright (c) mmgcp contributors. All rights reserved.
"""Load checkpoint files without running code from them, unless the user trusts the file.

A ``.pth`` file is a pickle: unpickling it can call any function the file names (a ``__reduce__``
that runs ``os.system``), so loading a file from a download page or a shared drive with
``torch.load(weights_only=False)`` runs whatever its author put in it. Every checkpoint load of
mmgcp (mmengine's local loader while mmgcp is imported, the tools, the strict-coverage check,
resume scanning, the converters) goes through :func:`load_checkpoint_file`, which:

1. lists the Python types and functions the file's pickle needs
   (``torch.serialization.get_unsafe_globals_in_checkpoint``, a static read: nothing is
   unpickled) and refuses the file with :class:`UntrustedCheckpointError` when any of them is
   outside :data:`SAFE_GLOBALS`;
2. loads it with ``torch.load(weights_only=True)`` and exactly the types of :data:`SAFE_GLOBALS`
   allowed (the ``torch.serialization.safe_globals`` context manager: nothing stays allowed
   after the load, nothing is allowed for other code).

Files in PyTorch's legacy (pre-1.6, non-zip) format cannot be listed ahead; the weights-only
unpickler stops at their first type outside the allowlist, which it never calls, and the same
error is raised.

A user who trusts a file loads it with ``weights_only=False`` for one invocation:
``--trust-checkpoint`` on mmgcp's tools, or ``MMGCP_TRUST_CHECKPOINT=1`` in the environment of
any other command (``mim train``, the libraries' own tools, a script). The variable is read at
every load; nothing is switched off globally.
"""
import argparse
import contextlib
import os
import os.path as osp
import pickle
import re
import sys
from typing import Any, Iterator, List, Optional, Sequence

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

try:  # numpy >= 2 names its C core ``numpy._core``; 1.x wrote ``numpy.core`` into pickles
    from numpy._core import multiarray as _np_multiarray
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _np_multiarray

#: The environment variable that trusts every checkpoint a process loads (``1``).
TRUST_ENV = 'MMGCP_TRUST_CHECKPOINT'
_TRUE_VALUES = ('1', 'true', 'yes')
_FALSE_VALUES = ('', '0', 'false', 'no')
# The weights-only unpickler's refusals name the type as 'GLOBAL module.name', as a class or as
# a function object.
_REFUSED_GLOBAL = re.compile(
    r"GLOBAL ([\w.]+)|<class '([\w.]+)'>|unrecognized function <?(?:built-in function )?([\w.]+)"
    r"|calls (getattr\([^)]*\))")
# The numeric dtypes of numpy >= 1.25 are classes of their own (numpy.dtypes.Float64DType): the
# unpickler fills a dtype in with BUILD, which it allows only for allowlisted classes.
_NUMERIC_DTYPE_CODES = '?bhilqBHILQefdg'


class UntrustedCheckpointError(pickle.UnpicklingError):
    """A checkpoint needs Python types outside :data:`SAFE_GLOBALS`: loading it could run code.

    Args:
        filename (str): The checkpoint file.
        types (Sequence[str]): The types it needs that are not allowed, as ``module.name``.
        reason (str): What was found, when it is not a list of types. Defaults to ``''``.
    """

    def __init__(self, filename: str, types: Sequence[str], reason: str = ''):
        self.filename = filename
        self.types = sorted(types)
        self.reason = reason
        found = reason or (
            f'unpickling it needs {len(self.types)} Python type(s) or function(s) outside '
            f"mmgcp's allowlist of checkpoint contents: {', '.join(self.types)}")
        super().__init__(
            f'refused to load the checkpoint {filename}: {found}. A checkpoint that needs them '
            'can run any code when it is loaded, so nothing of it was loaded. If you trust the '
            'file (you made it, or its source is one you trust), load it for this invocation '
            f'only: pass --trust-checkpoint to the mmgcp tool, or set {TRUST_ENV}=1 in the '
            'environment of another command (mim, the libraries\' tools, your own script). '
            'See docs/checkpoints.md, "Safe loading".')

    def __reduce__(self):
        # Rebuilt from its arguments, not from the message, in the process that receives it.
        return type(self), (self.filename, self.types, self.reason)


_GETATTR_REFUSED = 'only the statistics methods of mmengine HistoryBuffer are allowed'


def _history_buffer_method(owner: type, name: str) -> Any:
    """Stands in for ``builtins.getattr`` while unpickling: only HistoryBuffer's statistics.

    mmengine's ``HistoryBuffer`` keeps its statistics methods (``min``, ``max``, ``current``,
    ``mean`` and registered ones) in a dict, and pickle writes a method as
    ``getattr(HistoryBuffer, 'min')``. Any other ``getattr`` in a checkpoint is refused.
    """
    if owner is HistoryBuffer and (name in ('min', 'max', 'current', 'mean')
                                   or name in HistoryBuffer._statistics_methods):
        return getattr(owner, name)
    raise pickle.UnpicklingError(
        f'the checkpoint calls getattr({getattr(owner, "__name__", type(owner).__name__)}, '
        f'{name!r}); {_GETATTR_REFUSED}')


#: The only non-tensor types a checkpoint may need to load without being trusted. Each was found
#: by loading every kind of checkpoint mmgcp writes or reads (docs/checkpoints.md, "Safe
#: loading"); none of them runs code, opens files or reaches other objects.
SAFE_GLOBALS = [
    # mmengine Runner checkpoints (tools/train.py, --resume, the benchmark; mmpretrain, mmdet,
    # mmseg alike): ``message_hub.log_scalars`` holds a HistoryBuffer per logged scalar. Built
    # with ``__new__`` and its ``__dict__`` filled with the unpickled (already safe) values.
    HistoryBuffer,
    # The same HistoryBuffers: their statistics methods are pickled as
    # ``getattr(HistoryBuffer, 'min')``. Not the real getattr: a stand-in that returns only those
    # methods (see _history_buffer_method).
    (_history_buffer_method, 'builtins.getattr'),
    # HistoryBuffer's ``_log_history`` / ``_count_history`` are numpy arrays: ``_reconstruct``
    # makes an empty array of a given shape and dtype, then ``ndarray.__setstate__`` fills in the
    # raw bytes (numeric dtypes only, below: an object array is refused).
    (_np_multiarray._reconstruct, 'numpy._core.multiarray._reconstruct'),
    (_np_multiarray._reconstruct, 'numpy.core.multiarray._reconstruct'),  # numpy 1.x writers
    np.ndarray,
    # numpy scalars (np.float64 losses and metrics in the message hub, seeds, best scores):
    # ``scalar(dtype, raw bytes)``.
    (_np_multiarray.scalar, 'numpy._core.multiarray.scalar'),
    (_np_multiarray.scalar, 'numpy.core.multiarray.scalar'),  # numpy 1.x writers
    # The dtypes of those arrays and scalars: ``dtype('f8', False, True)``, then filled in with
    # ``__setstate__``, which needs the dtype's own class: bool, integers and floats only.
    np.dtype,
    *sorted({type(np.dtype(code)) for code in _NUMERIC_DTYPE_CODES} - {np.dtype},
            key=lambda cls: cls.__name__),
    # The published DropCov ViT checkpoints (timm's CheckpointSaver) keep the training script's
    # command-line arguments as ``args``: a Namespace of strings, numbers, lists and None,
    # created with ``__new__`` and its ``__dict__`` filled.
    argparse.Namespace,
]


def trust_from_env() -> bool:
    """Whether :data:`TRUST_ENV` trusts checkpoints in this process (read at every call).

    Returns:
        bool: True for ``1``, ``true`` or ``yes``; False when unset, empty, ``0``, ``false``
        or ``no``.

    Raises:
        ValueError: Any other value.
    """
    value = os.environ.get(TRUST_ENV, '').strip().lower()
    if value in _TRUE_VALUES:
        return True
    if value in _FALSE_VALUES:
        return False
    raise ValueError(f'{TRUST_ENV}={os.environ[TRUST_ENV]!r}: expected 1 (trust the checkpoints '
                     'this command loads) or 0 / unset (load only allowlisted contents).')


def trust_checkpoints_in_this_process() -> None:
    """Trust every checkpoint this process and its children load (``--trust-checkpoint``).

    Sets :data:`TRUST_ENV` in this process's environment only: child processes of this one
    invocation (dataloader workers, launched ranks) inherit it, nothing persists after it.
    """
    os.environ[TRUST_ENV] = '1'


class _TrustCheckpointAction(argparse.Action):
    """``--trust-checkpoint`` (and the deprecated ``--allow-pickle``): trust this invocation."""

    def __call__(self, parser, namespace, values, option_string=None):
        if option_string == '--allow-pickle':
            print('--allow-pickle is deprecated and will be removed; use --trust-checkpoint '
                  '(the same: the checkpoint may run code when it is loaded).', file=sys.stderr)
        trust_checkpoints_in_this_process()
        setattr(namespace, self.dest, True)


def add_trust_checkpoint_argument(parser: argparse.ArgumentParser,
                                  deprecated_allow_pickle: bool = False) -> None:
    """Add ``--trust-checkpoint`` to a tool's parser; when given, the tool trusts its files.

    Args:
        parser (ArgumentParser): The tool's parser.
        deprecated_allow_pickle (bool): Also accept ``--allow-pickle`` (the converters' former
            name), with a deprecation message. Defaults to False.
    """
    names = ['--trust-checkpoint'] + (['--allow-pickle'] if deprecated_allow_pickle else [])
    parser.add_argument(
        *names, dest='trust_checkpoint', nargs=0, default=False, action=_TrustCheckpointAction,
        help='load checkpoints even when they hold Python objects outside mmgcp\'s allowlist. '
        'THIS RUNS CODE FROM THE FILE when it is loaded: only for files you trust. Applies to '
        f'this invocation only (it sets {TRUST_ENV}=1 for this process and its children)'
        + ('; --allow-pickle is a deprecated alias' if deprecated_allow_pickle else ''))


def find_untrusted_globals(filename: str) -> Optional[List[str]]:
    """The types and functions a checkpoint's pickle needs outside :data:`SAFE_GLOBALS`.

    A static read of the pickle: nothing is unpickled.

    Args:
        filename (str): The checkpoint file.

    Returns:
        list[str] | None: ``module.name`` of each (empty when the file needs nothing else), or
        None for a file in the legacy (non-zip) format, which cannot be read this way.

    Raises:
        UntrustedCheckpointError: The pickle uses instructions the weights-only unpickler does
            not read either (pickle protocol 4 or 5).
    """
    with open(filename, 'rb') as f:
        if f.read(4) != b'PK\x03\x04':  # torch.save's zip format starts with a zip header
            return None
    with torch.serialization.safe_globals(SAFE_GLOBALS):
        try:
            return sorted(torch.serialization.get_unsafe_globals_in_checkpoint(filename))
        except pickle.UnpicklingError as exc:
            raise UntrustedCheckpointError(
                filename, [], reason=f'its pickle uses instructions that loading without running '
                f'code does not read ({exc}; torch.save writes pickle protocol 2)') from exc


def check_checkpoint_trusted(filename: str, trust: Optional[bool] = None) -> None:
    """Raise before any loading when a checkpoint would need trust that was not given.

    For tools that load the file only after other work (building a Runner): the user hears at
    once. Legacy-format files are checked when they are loaded.

    Args:
        filename (str): The checkpoint file.
        trust (bool, optional): True: nothing to check. None (default): read :data:`TRUST_ENV`.

    Raises:
        UntrustedCheckpointError: The file needs types outside :data:`SAFE_GLOBALS`.
    """
    if trust is None:
        trust = trust_from_env()
    if trust or not osp.isfile(filename):
        return
    untrusted = find_untrusted_globals(filename)
    if untrusted:
        raise UntrustedCheckpointError(filename, untrusted)


def config_checkpoints(cfg: Any) -> List[str]:
    """The local checkpoint files a config loads: ``load_from`` and every ``checkpoint=`` entry
    (``init_cfg=dict(type='Pretrained', checkpoint=...)`` and the like) under ``model``.

    Args:
        cfg (Config | dict): The config.

    Returns:
        list[str]: Existing local files, in the order found, without repeats.
    """
    found: List[str] = []

    def visit(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == 'checkpoint' and isinstance(value, str):
                    found.append(value)
                else:
                    visit(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                visit(value)

    if isinstance(cfg.get('load_from'), str):
        found.append(cfg['load_from'])
    visit(cfg.get('model'))
    paths = [osp.expanduser(path) for path in found]
    return list(dict.fromkeys(path for path in paths if osp.isfile(path)))


def check_config_checkpoints_trusted(cfg: Any) -> None:
    """Raise before the Runner is built when a checkpoint the config loads needs trust.

    Args:
        cfg (Config | dict): The config (``load_from``, ``checkpoint=`` entries under ``model``).

    Raises:
        UntrustedCheckpointError: The first such file that needs types outside the allowlist.
    """
    for path in config_checkpoints(cfg):
        check_checkpoint_trusted(path)


@contextlib.contextmanager
def exit_on_untrusted_checkpoint() -> Iterator[None]:
    """For command-line tools: an untrusted checkpoint ends the tool with its message, not a
    traceback."""
    try:
        yield
    except UntrustedCheckpointError as exc:
        raise SystemExit(f'error: {exc}') from None


def _refused_types(exc: pickle.UnpicklingError) -> Optional[List[str]]:
    """The type named by the weights-only unpickler's refusal, None for another error."""
    message = str(exc)
    if not any(s in message for s in ('Unsupported global', 'Can only ', 'Trying to call',
                                      'is blocked', _GETATTR_REFUSED)):
        return None
    match = _REFUSED_GLOBAL.search(message)
    return [next(g for g in match.groups() if g)] if match else ['(unnamed)']


def load_checkpoint_file(filename: str,
                         map_location: Optional[Any] = None,
                         *,
                         trust: Optional[bool] = None) -> Any:
    """Load a checkpoint file; refuse it, before unpickling, if it needs untrusted types.

    Args:
        filename (str): Path of the checkpoint (``~`` is expanded).
        map_location (Any, optional): Same as :func:`torch.load`. Defaults to None.
        trust (bool, optional): True: load with ``weights_only=False`` (the file may run code).
            False: only :data:`SAFE_GLOBALS`. None (default): True when the environment
            variable :data:`TRUST_ENV` is ``1``, read at this call.

    Returns:
        Any: The unpickled checkpoint, usually a dict with ``state_dict`` and ``meta``.

    Raises:
        FileNotFoundError: No such file.
        UntrustedCheckpointError: The file needs types outside :data:`SAFE_GLOBALS` and is not
            trusted; nothing of it was loaded.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    if trust is None:
        trust = trust_from_env()
    if trust:
        return torch.load(filename, map_location=map_location, weights_only=False)
    untrusted = find_untrusted_globals(filename)
    if untrusted:
        raise UntrustedCheckpointError(filename, untrusted)
    with torch.serialization.safe_globals(SAFE_GLOBALS):
        try:
            return torch.load(filename, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as exc:
            refused = _refused_types(exc)
            if refused is None:
                raise
            raise UntrustedCheckpointError(filename, refused) from None
