# Copyright (c) mmgcp contributors. All rights reserved.
"""Check that the data a config reads exists, before a Runner is built.

Without this, a wrong ``data_root`` surfaces as a bare ``FileNotFoundError`` from ``os.scandir``
or ``json.load`` deep inside a library, after the model was built. :func:`check_data` walks the
dataloaders' datasets (wrappers such as ``RepeatDataset`` and ``ConcatDataset`` included) and the
evaluators' ``ann_file`` and raises one :class:`DataNotFoundError` naming the config key, the path
and how to get the data.
"""
import os.path as osp
from typing import Iterator, List, Sequence, Tuple

from mmengine.config import Config

#: How to get each kind of data set; ``{out_dir}`` and ``{name}`` are filled for the toy sets.
TOY_HINT = ('generate the toy set: python tools/dataset_converters/make_toy_data.py {name} '
            '--out-dir {out_dir}')
LAYOUTS = {
    'cls': 'ImageNet layout: <data_root>/train/<class>/*.JPEG and <data_root>/val/<class>/*.JPEG '
           '(or meta/train.txt, meta/val.txt lists), e.g. data/imagenet',
    'coco': 'COCO layout: <data_root>/annotations/instances_{train,val}2017.json, '
            '<data_root>/train2017/*.jpg, <data_root>/val2017/*.jpg, e.g. data/coco/',
    'ade20k': 'ADE20K layout: <data_root>/images/{training,validation}/*.jpg and '
              '<data_root>/annotations/{training,validation}/*.png, e.g. '
              'data/ade/ADEChallengeData2016',
}
_SCOPE_KIND = {'mmpretrain': 'cls', 'mmdet': 'coco', 'mmseg': 'ade20k'}
_TOY_SET = {'cls': 'cls', 'coco': 'coco', 'ade20k': 'ade20k'}


class DataNotFoundError(FileNotFoundError):
    """A path a config's data settings point at does not exist."""


def _datasets(dataset: dict, key: str) -> Iterator[Tuple[str, dict]]:
    """(config key, dataset dict) of a dataset and the datasets it wraps."""
    if not isinstance(dataset, dict):
        return
    yield key, dataset
    inner = dataset.get('dataset')
    if isinstance(inner, dict):
        yield from _datasets(inner, f'{key}.dataset')
    for i, sub in enumerate(dataset.get('datasets') or []):
        yield from _datasets(sub, f'{key}.datasets.{i}')


def _is_local(path) -> bool:
    return isinstance(path, str) and bool(path) and '://' not in path


def _join(root, path: str) -> str:
    return osp.join(root, path) if _is_local(root) and not osp.isabs(path) else path


def missing_data(cfg: Config, splits: Sequence[str] = ('train', 'val', 'test')) -> List[tuple]:
    """Paths of a config's data that do not exist.

    Args:
        cfg (Config): The config (``--cfg-options`` merged).
        splits (Sequence[str]): Which ``{split}_dataloader`` (and ``{split}_evaluator``) to
            check. A split whose dataloader is None is skipped.

    Returns:
        list[tuple]: ``(config key, path, dataset type)`` per missing path, in config order.
    """
    missing = []
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if isinstance(loader, dict):
            for key, dataset in _datasets(loader.get('dataset'), f'{split}_dataloader.dataset'):
                root = dataset.get('data_root')
                dtype = str(dataset.get('type', ''))
                if isinstance(root, str) and '://' in root:
                    continue  # remote storage: the backend's business
                if _is_local(root) and not osp.isdir(root):
                    missing.append((f'{key}.data_root', root, dtype))
                    continue  # everything below is relative to it
                ann = dataset.get('ann_file')
                if _is_local(ann) and not osp.exists(_join(root, ann)):
                    missing.append((f'{key}.ann_file', _join(root, ann), dtype))
                prefix = dataset.get('data_prefix')
                prefixes = prefix.items() if isinstance(prefix, dict) else [(None, prefix)]
                for name, value in prefixes:
                    if _is_local(value) and not osp.exists(_join(root, value)):
                        sub = f'.{name}' if name else ''
                        missing.append((f'{key}.data_prefix{sub}', _join(root, value), dtype))
        evaluators = cfg.get(f'{split}_evaluator') if isinstance(loader, dict) else None
        if isinstance(evaluators, dict):
            evaluators = [evaluators]
        for i, evaluator in enumerate(evaluators or []):
            ann = evaluator.get('ann_file') if isinstance(evaluator, dict) else None
            if _is_local(ann) and not osp.exists(ann):
                key = f'{split}_evaluator' + (f'.{i}' if len(evaluators) > 1 else '')
                missing.append((f'{key}.ann_file', ann, str(evaluator.get('type', ''))))
    return missing


def _kind(cfg: Config, dataset_type: str) -> str:
    name = dataset_type.lower()
    if 'coco' in name:
        return 'coco'
    if 'seg' in name or 'ade' in name:
        return 'ade20k'
    if 'imagenet' in name or name.endswith('customdataset'):
        return 'cls'
    return _SCOPE_KIND.get(cfg.get('default_scope'), 'cls')


def _toy_hint(path: str, kind: str) -> str:
    """The generator command that makes the toy set appear at ``path``."""
    parts = osp.normpath(path).split(osp.sep)
    if kind in parts:  # <out-dir>/<set>[/...]
        out_dir = osp.sep.join(parts[:parts.index(kind)]) or '.'
        return TOY_HINT.format(name=kind, out_dir=out_dir)
    return (TOY_HINT.format(name=kind, out_dir='data/toy') +
            f' (it writes data/toy/{kind}; point the config there)')


def check_data(cfg: Config, splits: Sequence[str] = ('train', 'val', 'test'),
               config: str = '') -> None:
    """Raise one clear error when a path of the config's data settings does not exist.

    Args:
        cfg (Config): The config (``--cfg-options`` merged).
        splits (Sequence[str]): Which dataloaders/evaluators to check (see :func:`missing_data`).
        config (str): The config's file name, for the message. Defaults to ``cfg.filename``.

    Raises:
        DataNotFoundError: Listing each missing path with its config key and how to get the data.
    """
    missing = missing_data(cfg, splits)
    if not missing:
        return
    config = config or getattr(cfg, 'filename', None) or 'the config'
    lines = [f'data of {config} not found:']
    hints = []
    for key, path, dtype in missing:
        lines.append(f'  {key} = {path!r} does not exist')
        kind = _kind(cfg, dtype)
        if 'toy' in path or 'toy' in osp.basename(str(config)):
            hint = _toy_hint(path, _TOY_SET[kind])
        else:
            hint = f'put the data in the standard {LAYOUTS[kind]}'
        if not any(h.split(' (')[0] == hint.split(' (')[0] for h in hints):
            hints.append(hint)
    lines.append('How to fix: ' + '; or '.join(hints) + '.')
    key = missing[0][0]
    if 'dataloader' in key:
        dataset_key = key.split('.data_root')[0].split('.ann_file')[0].split('.data_prefix')[0]
        example = f'{dataset_key}.data_root=/path/to/data'
    else:
        example = f'{key}=/path/to/annotations.json'
    lines.append(f'Or point the config at your copy, e.g. --cfg-options {example}')
    raise DataNotFoundError('\n'.join(lines))
