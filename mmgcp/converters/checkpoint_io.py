# Copyright (c) mmgcp contributors. All rights reserved.
"""Read source checkpoints safely, write converted ones atomically, check them against a config.

A conversion either writes a complete checkpoint or nothing: the result goes to a temporary file in
the destination folder, which is renamed over the destination only once it is fully written.
"""
import os
import os.path as osp
import sys
import uuid
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from ..utils.safe_checkpoint import UntrustedCheckpointError, load_checkpoint_file
from ..version import __version__

#: How many offending keys an error message lists.
MAX_LISTED = 8


class CheckpointConversionError(ValueError):
    """A checkpoint cannot be read or converted; the message names the file, expected and found."""


def format_keys(keys: Sequence[str], limit: int = MAX_LISTED) -> str:
    """``'a, b, c (+ 5 more)'``: the first ``limit`` keys of a list, for error messages."""
    keys = list(keys)
    listed = ', '.join(keys[:limit])
    return listed + (f' (+ {len(keys) - limit} more)' if len(keys) > limit else '')


def load_source_checkpoint(path: str, trust: Optional[bool] = None) -> Any:
    """Load a checkpoint file on the CPU, without running code from it unless it is trusted.

    Args:
        path (str): The checkpoint file.
        trust (bool, optional): Load a file that needs Python types outside mmgcp's allowlist
            (:data:`mmgcp.utils.safe_checkpoint.SAFE_GLOBALS`); such a file can run code when
            it is loaded: only for files you trust. None (default): trusted when the environment
            variable ``MMGCP_TRUST_CHECKPOINT`` is 1 (``--trust-checkpoint`` of the tools).

    Returns:
        Any: The unpickled object, usually a dict.

    Raises:
        FileNotFoundError: No such file.
        UntrustedCheckpointError: The file needs types outside the allowlist and is not trusted.
        CheckpointConversionError: The file is truncated or not a PyTorch checkpoint.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no such checkpoint file.')
    size = osp.getsize(path)
    try:
        return load_checkpoint_file(path, map_location='cpu', trust=trust)
    except UntrustedCheckpointError:
        raise
    except Exception as exc:  # torch raises RuntimeError, EOFError, ... for damaged files
        raise _unreadable(path, size, exc) from exc


def find_state_dict(checkpoint: Any, src: str, wrappers: Sequence[str] = ('state_dict', 'model'),
                    meta_keys: Sequence[str] = ()) -> Tuple[Dict[str, torch.Tensor],
                                                            Optional[str], dict]:
    """Find the state dict in a loaded checkpoint.

    Args:
        checkpoint (Any): What :func:`load_source_checkpoint` returned.
        src (str): The source file, named in errors.
        wrappers (Sequence[str]): Keys that may hold the state dict, the first present wins; a
            checkpoint with none of them is taken as a bare state dict. Defaults to
            ``('state_dict', 'model')``.
        meta_keys (Sequence[str]): Entries next to the wrapper worth keeping when they are a
            number or a string (a one-element tensor counts as its number). Defaults to ``()``.

    Returns:
        tuple: The state dict, the wrapper key it came from (None for a bare state dict) and
        the kept entries of ``meta_keys``.

    Raises:
        CheckpointConversionError: Not a dict, or the state dict is empty or holds non-tensors.
    """
    if not isinstance(checkpoint, dict):
        raise CheckpointConversionError(
            f'{src}: expected a dict (a state dict, or a checkpoint with "state_dict"), found '
            f'{type(checkpoint).__name__}.')
    wrapper = next((k for k in wrappers if isinstance(checkpoint.get(k), dict)), None)
    state_dict = checkpoint[wrapper] if wrapper else checkpoint
    non_tensors = [k for k, v in state_dict.items() if not isinstance(v, torch.Tensor)]
    if non_tensors or not state_dict:
        found = format_keys([f'{k} ({type(state_dict[k]).__name__})' for k in non_tensors])
        names = ' / '.join(f'"{k}"' for k in wrappers)
        raise CheckpointConversionError(
            f'{src}: expected a dict of tensors, or a checkpoint whose {names} is one; found '
            f'{"an empty dict" if not state_dict else "non-tensor entries: " + found} '
            f'(top-level keys: {format_keys(list(checkpoint))}).')
    kept: dict = {}
    for key in meta_keys if wrapper else ():
        value = checkpoint.get(key)
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, (int, float, str)):
            kept[key] = value
    return state_dict, wrapper, kept


def _unreadable(path: str, size: int, exc: Exception) -> CheckpointConversionError:
    reason = (str(exc).splitlines() or [type(exc).__name__])[0]
    return CheckpointConversionError(
        f'{path}: cannot be read as a PyTorch checkpoint ({size} bytes; {type(exc).__name__}: '
        f'{reason}). The file is truncated (an interrupted download?) or not a checkpoint; '
        'download it again.')


def save_checkpoint_atomic(checkpoint: Dict[str, Any], dst: str) -> None:
    """Write ``checkpoint`` to ``dst`` through a temporary file in the same folder.

    Args:
        checkpoint (dict): What to save with :func:`torch.save`.
        dst (str): Destination path; its folder is created if needed.
    """
    folder = osp.dirname(osp.abspath(dst))
    os.makedirs(folder, exist_ok=True)
    # Same folder, so that os.replace is an atomic rename; not mkstemp, whose 0600 mode would
    # stick to the result.
    tmp_path = osp.join(folder, f'.{osp.basename(dst)}.{uuid.uuid4().hex[:12]}.tmp')
    try:
        torch.save(checkpoint, tmp_path)
        os.replace(tmp_path, dst)
    except BaseException:
        if osp.exists(tmp_path):
            os.remove(tmp_path)
        raise


def build_model_from_config(config: str, cfg_options: Optional[dict] = None) -> Tuple[Any, Any]:
    """Build the ``model`` of an mmpretrain, mmdet or mmseg config, without loading weights.

    Args:
        config (str): Config file.
        cfg_options (dict, optional): Overrides merged into the config. Defaults to None.

    Returns:
        tuple: The model (built in the config's ``default_scope``) and the merged config.
    """
    from mmengine.config import Config
    from mmengine.registry import MODELS, DefaultScope

    import mmgcp  # noqa: F401  configs reach mmgcp modules as 'mmgcp.Name'

    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmpretrain')):
        return MODELS.build(cfg.model), cfg


def compare_with_model(state_dict: Dict[str, torch.Tensor], model: torch.nn.Module,
                       prefix: str = '') -> Tuple[List[str], List[str], List[str]]:
    """Compare the keys and shapes of a state dict with a model's.

    Args:
        state_dict (dict[str, Tensor]): The converted weights.
        model (nn.Module): The target model.
        prefix (str): Only compare the model's keys that start with it (``'backbone.'`` for a
            trunk-only checkpoint). Defaults to ``''``.

    Returns:
        tuple[list[str]]: Missing keys (the model has them, the state dict does not), unexpected
        keys, and ``'key: expected (...) found (...)'`` for shape mismatches.
    """
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items() if k.startswith(prefix)}
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [
        f'{k}: expected {expected[k]} found {tuple(v.shape)}' for k, v in state_dict.items()
        if k in expected and tuple(v.shape) != expected[k]
    ]
    # The few neck and head mismatches (width, classes) say more than the many of a trunk.
    mismatched.sort(key=lambda line: line.startswith('backbone.'))
    return missing, unexpected, mismatched


def check_against_config(state_dict: Dict[str, torch.Tensor], config: str,
                         cfg_options: Optional[dict] = None, backbone_only: bool = False,
                         src: str = '<state_dict>', found: str = '', hint: str = '') -> None:
    """Raise unless ``state_dict`` loads strictly into the model of ``config``.

    Args:
        state_dict (dict[str, Tensor]): Converted weights (``backbone.*``, ``neck.*``, ``head.*``).
        config (str): The config the checkpoint is meant for.
        cfg_options (dict, optional): Overrides of the config. Defaults to None.
        backbone_only (bool): Compare only the model's ``backbone.*`` keys. Defaults to False.
        src (str): The source file, named in the error. Defaults to ``'<state_dict>'``.
        found (str): What the checkpoint was detected to be, for the error. Defaults to ``''``.
        hint (str): A last line for the error, e.g. the config that does fit. Defaults to ``''``.

    Raises:
        CheckpointConversionError: Keys or shapes differ; the message lists them.
    """
    model, cfg = build_model_from_config(config, cfg_options)
    prefix = 'backbone.' if backbone_only else ''
    missing, unexpected, mismatched = compare_with_model(state_dict, model, prefix)
    if not (missing or unexpected or mismatched):
        return
    backbone = cfg.model.get('backbone') or {}
    expected = ', '.join(f'{k}={backbone[k]}' for k in ('type', 'depth') if k in backbone)
    lines = [f'{src}: the converted checkpoint ({found}) does not fit the model of {config}'
             + (f' with --cfg-options {cfg_options}' if cfg_options else '')
             + (f' (backbone {expected})' if expected else '') + ':']
    if mismatched:
        lines.append(f'  shape mismatches ({len(mismatched)}): {format_keys(mismatched)}')
    if missing:
        lines.append(f'  keys the config expects but the checkpoint lacks ({len(missing)}): '
                     f'{format_keys(missing)}')
    if unexpected:
        lines.append(f'  unexpected keys ({len(unexpected)}): {format_keys(unexpected)}')
    if not backbone_only and any(not k.startswith(('backbone.', 'neck.', 'head.'))
                                 for k in missing):
        lines.append('  For a detection or segmentation config, pass --backbone-only.')
    if hint:
        lines.append(f'  {hint}')
    raise CheckpointConversionError('\n'.join(lines))


def raise_if_inconsistent(header: str, unexpected: Sequence[str], missing: Sequence[str],
                          mismatched: Sequence[str], missing_label: str = '') -> None:
    """Raise a :class:`CheckpointConversionError` that lists shape mismatches, unexpected and
    missing keys under ``header``; nothing when all three are empty."""
    if not (unexpected or missing or mismatched):
        return
    lines = [header]
    if mismatched:
        lines.append(f'  shape mismatches ({len(mismatched)}): {format_keys(mismatched)}')
    if unexpected:
        lines.append(f'  unexpected keys ({len(unexpected)}): {format_keys(unexpected)}')
    if missing:
        lines.append(f'  missing keys ({len(missing)}{missing_label}): {format_keys(missing)}')
    raise CheckpointConversionError('\n'.join(lines))


def refuse_same_file(src: str, dst: str) -> None:
    """Raise before any work if ``dst`` is ``src`` itself (the conversion would overwrite it)."""
    if osp.exists(dst) and osp.exists(src) and osp.samefile(src, dst):
        raise CheckpointConversionError(f'{src}: the destination is the source file itself; '
                                        'write the converted checkpoint elsewhere.')


def check_and_save(converted: Dict[str, torch.Tensor], info: dict, src: str, dst: str, *,
                   converter: str, source_format_description: str, source_meta: dict,
                   describe: Callable[[dict], str], backbone_only: bool = False,
                   config: Optional[str] = None, cfg_options: Optional[dict] = None) -> dict:
    """The converters' last step: keep the trunk only (when asked), check, write atomically.

    Args:
        converted (dict[str, Tensor]): The converted weights, in mmpretrain names.
        info (dict): What the converter found (source format, architecture, ``config`` and
            ``cfg_options`` the checkpoint fits); goes into the meta.
        src (str): Source checkpoint, named in errors and the meta.
        dst (str): Destination; gets ``{'state_dict': ..., 'meta': ...}``.
        converter (str): The command line tool, recorded in the meta.
        source_format_description (str): The source layout in words, recorded in the meta.
        source_meta (dict): What the source file said about itself, recorded in the meta.
        describe (Callable): One-line description of the converted model from ``info``.
        backbone_only (bool): Write only the ``backbone.*`` keys. Defaults to False.
        config (str, optional): Require the result to load strictly into this config's model
            (only its ``backbone.*`` with ``backbone_only``). Defaults to None.
        cfg_options (dict, optional): Overrides of ``config``. Defaults to None.

    Returns:
        dict: The ``meta`` written to ``dst``.
    """
    if backbone_only:
        converted = type(converted)(
            (k, v) for k, v in converted.items() if k.startswith('backbone.'))
    if config is not None:
        options = ' '.join(info['cfg_options'])
        hint = (f"The checkpoint's own config: {info['config']}"
                + (f' --cfg-options {options}' if options else ''))
        check_against_config(converted, config, cfg_options, backbone_only=backbone_only,
                             src=src, found=describe(info), hint=hint + '.')
    meta = dict(
        converter=f'mmgcp {__version__} {converter}',
        source_file=osp.abspath(src),
        source_format_description=source_format_description,
        **info,
        backbone_only=backbone_only,
        source_meta=source_meta)
    save_checkpoint_atomic(dict(state_dict=converted, meta=meta), dst)
    return meta


def run_conversion(convert: Callable[..., dict], src: str, dst: str, source: str,
                   describe: Callable[[dict], str], **kwargs) -> dict:
    """Run a converter for a command line and tell the user what came of it.

    On a conversion error, a missing file or an untrusted one: exit with the message and say
    that nothing was written. Otherwise print what was written and the config (with its
    options) to use it with.

    Args:
        convert (Callable): The converter, called as ``convert(src, dst, **kwargs)``; returns the
            written checkpoint's meta.
        src (str): Source checkpoint.
        dst (str): Output path.
        source (str): Key of the meta that names the source's layout (``'source_format'``), or
            a dotted path into it (``'source_meta.weights'``).
        describe (Callable): One-line description of the converted model from its meta.
        **kwargs: The converter's other arguments.

    Returns:
        dict: The meta of the written checkpoint.
    """
    try:
        meta = convert(src, dst, **kwargs)
    except (CheckpointConversionError, FileNotFoundError, UntrustedCheckpointError) as exc:
        sys.exit(f'error: {exc}\nNothing was written to {dst}.')
    label = meta
    for key in source.split('.'):
        label = label[key]
    print(f'Converted {src} ({label}: {describe(meta)}) to {dst}'
          + (' (backbone only)' if meta['backbone_only'] else ''))
    if not meta['backbone_only']:
        options = ' '.join(meta['cfg_options'])
        print(f"Use it with {meta['config']}" + (f' --cfg-options {options}' if options else ''))
    return meta
