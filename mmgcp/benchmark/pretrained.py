# Copyright (c) mmgcp contributors. All rights reserved.
"""The weights runs start from, made once and atomically, each by one writer.

- A variant given by a checkpoint (``pretrain=False``, e.g. a published GCP ResNet-50): before
  anything is queued, the driver converts it (any layout ``tools/model_converters/
  gcp2mmpretrain.py`` reads; an mmpretrain checkpoint is taken as it is), checks it against the
  variant's pretrain config, and writes ``pretrained/<variant>/classifier.pth`` and
  ``trunk.pth`` (the ``backbone.*`` weights the fine-tuning configs load). Runs only read them.
- A pretraining run of the experiment (``pretrain=True``) writes ``trunk.pth`` and
  ``classifier.pth`` into its own work dir when it ends; the fine-tuning runs of that variant and
  seed wait for it (``depends_on``) and only read them.
No lock is needed: no file has two writers.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional

from mmengine.config import Config

from mmgcp.converters.checkpoint_io import save_checkpoint_atomic
from mmgcp.utils.safe_checkpoint import UntrustedCheckpointError, load_checkpoint_file

from .experiment import CLASSIFIER_FILE, TRUNK_FILE, Run, flatten, published_dir
from .plan import parse_cfg_options
from .settings import checkpoint_digest

SOURCE_RECORD = 'source.json'


class PretrainedError(ValueError):
    """A given checkpoint cannot be converted or does not fit its config."""


def _state_dict(checkpoint) -> dict:
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise PretrainedError('holds no state dict (expected a dict of tensors, or one under '
                              "'state_dict')")
    return state


def extract_trunk(checkpoint: str, out_path: str) -> str:
    """Write the ``backbone.*`` weights of an mmpretrain checkpoint (prefix kept), atomically.

    Raises:
        PretrainedError: The checkpoint has no ``backbone.*`` weights.
    """
    state = _state_dict(load_checkpoint_file(checkpoint, map_location='cpu'))
    backbone = {k: v for k, v in state.items() if k.startswith('backbone.')}
    if not backbone:
        raise PretrainedError(f'{checkpoint} has no backbone.* weights (first keys: '
                              f'{list(state)[:5]}); convert it with tools/model_converters/ '
                              'first.')
    save_checkpoint_atomic(dict(state_dict=backbone, meta=dict(source=osp.abspath(checkpoint))),
                           out_path)
    return out_path


def link_atomic(target: str, link: str) -> None:
    """Make ``link`` a symbolic link to ``target`` (absolute), replacing it atomically."""
    tmp = f'{link}.{os.getpid()}.tmp'
    if osp.lexists(tmp):
        os.remove(tmp)
    os.symlink(osp.abspath(target), tmp)
    os.replace(tmp, link)


def finish_pretraining(run: Run, checkpoint: str) -> None:
    """What a pretraining run leaves for the runs that start from it: ``classifier.pth`` (a link
    to its last checkpoint) and ``trunk.pth`` (the ``backbone.*`` weights) in its work dir."""
    extract_trunk(checkpoint, osp.join(run.work_dir, TRUNK_FILE))
    link_atomic(checkpoint, osp.join(run.work_dir, CLASSIFIER_FILE))


def _variant_options(exp: Config, variant: str) -> dict:
    """The ``--cfg-options`` a variant's classifier is checked with: the variant's own options
    for the experiment's classification tasks (e.g. ``model.head.num_classes=1001`` or a 128-d
    head, see docs/benchmark.md)."""
    merged: Dict[str, object] = {}
    per_task = exp.variants[variant].get('cfg_options') or {}
    for task, spec in exp.tasks.items():
        if spec.kind == 'cls':
            merged.update(flatten(per_task.get(task) or {}))
    return parse_cfg_options([f'{k}={v}' for k, v in merged.items()])


def prepare_published(exp: Config, runs: List[Run], work_dir: str, repo_root: str = '',
                      stream=None) -> Dict[str, str]:
    """Convert and check every variant's given checkpoint once, before any run starts.

    A variant whose ``pretrained/<variant>`` already holds the conversion of the same file
    (same content digest, config and options) is left as it is.

    Args:
        exp (Config): The experiment (``pretrain=False``; else nothing to do).
        runs (list[Run]): Its runs; only variants that some run starts from are prepared.
        work_dir (str): The benchmark's work dir.
        repo_root (str): What relative checkpoint and config paths are relative to.
        stream: Where progress lines go (default: stdout).

    Returns:
        dict[str, str]: Variant -> its ``pretrained/<variant>`` folder.

    Raises:
        PretrainedError: Listing every variant whose checkpoint could not be converted or does
            not fit its config, with the file and what to do; nothing is started.
    """
    import sys
    stream = stream or sys.stdout
    if exp.get('pretrain', False):
        return {}
    needed = sorted({run.variant for run in runs if run.pretrained is not None})
    done, problems = {}, []
    for variant in needed:
        spec = exp.variants[variant]
        source = spec.checkpoint if osp.isabs(spec.checkpoint) else osp.join(
            repo_root, spec.checkpoint)
        config = spec.pretrain_config if osp.isabs(spec.pretrain_config) else osp.join(
            repo_root, spec.pretrain_config)
        options = _variant_options(exp, variant)
        folder = published_dir(work_dir, variant)
        record = dict(checkpoint=osp.abspath(source), sha256=checkpoint_digest(source),
                      config=spec.pretrain_config, cfg_options=options)
        if _up_to_date(folder, record):
            done[variant] = folder
            continue
        try:
            _convert(source, config, options, folder)
        except (PretrainedError, UntrustedCheckpointError, ValueError, OSError,
                RuntimeError) as err:
            problems.append(f'variants.{variant}.checkpoint = {spec.checkpoint}: {err}')
            continue
        with open(osp.join(folder, SOURCE_RECORD), 'w') as f:
            json.dump(record, f, indent=2)
        stream.write(f'{variant}: {spec.checkpoint} checked against {spec.pretrain_config} -> '
                     f'{folder}/{{{CLASSIFIER_FILE}, {TRUNK_FILE}}}\n')
        done[variant] = folder
    if problems:
        raise PretrainedError(
            'pretrained checkpoints that cannot be used (nothing was started):\n' +
            '\n'.join(f'  - {p}' for p in problems) +
            '\nConvert published checkpoints with tools/model_converters/gcp2mmpretrain.py '
            '(docs/checkpoints.md); a checkpoint with another head (128-d, 1001 classes) needs '
            "the variant's cfg_options for its classification task (docs/benchmark.md).")
    return done


def _up_to_date(folder: str, record: dict) -> bool:
    try:
        with open(osp.join(folder, SOURCE_RECORD)) as f:
            old = json.load(f)
    except (OSError, ValueError):
        return False
    return old == json.loads(json.dumps(record)) and all(
        osp.isfile(osp.join(folder, name)) for name in (CLASSIFIER_FILE, TRUNK_FILE))


def _convert(source: str, config: str, options: Optional[dict], folder: str) -> None:
    """``classifier.pth`` and ``trunk.pth`` of one given checkpoint, checked against ``config``."""
    from mmgcp.converters import convert_checkpoint
    from mmgcp.converters.checkpoint_io import check_against_config
    if not osp.isfile(source):
        raise PretrainedError('the file does not exist')
    os.makedirs(folder, exist_ok=True)
    classifier = osp.join(folder, CLASSIFIER_FILE)
    state = _state_dict(load_checkpoint_file(source, map_location='cpu'))
    if any(k.startswith('backbone.') for k in state):  # already mmpretrain's layout
        check_against_config(state, config, options or None, src=source,
                             found='an mmpretrain checkpoint')
        link_atomic(source, classifier)
    else:
        convert_checkpoint(source, classifier, config=config, cfg_options=options or None)
    extract_trunk(classifier, osp.join(folder, TRUNK_FILE))
