# Copyright (c) mmgcp contributors. All rights reserved.
"""Write a toy set into place atomically, or skip it when an identical one is already there.

Each set is generated in a temporary folder next to its target and renamed into place when
complete, with a ``toy_data.json`` marker recording how it was made; a complete set made with
the same settings is skipped, one made otherwise is refused unless ``force`` is given.
"""
import inspect
import json
import os
import os.path as osp
import shutil
import tempfile
from typing import Callable, Dict, Optional

from .ade20k import make_toy_ade20k
from .classification import make_toy_classification
from .coco import make_toy_coco

#: Sub-folder of --out-dir, generator, and the generator's names for --num-train / --num-val.
GENERATORS: Dict[str, tuple] = {
    'cls': (make_toy_classification, 'num_train_per_class', 'num_val_per_class'),
    'coco': (make_toy_coco, 'num_train', 'num_val'),
    'ade20k': (make_toy_ade20k, 'num_train', 'num_val'),
}
#: Written last into every generated set; its presence marks the set complete.
MARKER = 'toy_data.json'


def resolve_params(generator: Callable, overrides: Dict) -> Dict:
    """The generator's keyword arguments: its defaults updated with the non-None overrides."""
    params = {
        name: p.default
        for name, p in inspect.signature(generator).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    unknown = set(overrides) - set(params)
    if unknown:
        raise ValueError(f'{generator.__name__} has no argument(s) {sorted(unknown)}.')
    params.update({name: value for name, value in overrides.items() if value is not None})
    return params


def read_marker(target: str) -> Optional[Dict]:
    """The marker of a complete set at ``target``, or None when there is none."""
    try:
        with open(osp.join(target, MARKER)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def toy_set_record(dataset: str, overrides: Dict) -> Dict:
    """What the marker of a toy set made with these settings records: ``generator`` and
    ``params`` (the generator's arguments: its defaults updated with ``overrides``, whose
    ``num_train`` / ``num_val`` are given by their command-line names)."""
    generator, train_key, val_key = GENERATORS[dataset]
    overrides = dict(overrides)
    overrides[train_key] = overrides.pop('num_train', None)
    overrides[val_key] = overrides.pop('num_val', None)
    return dict(generator=f'mmgcp.datasets.toy.{generator.__name__}',
                params=resolve_params(generator, overrides))


def other_settings(target: str, record: Dict) -> Optional[str]:
    """Why the existing folder ``target`` is not the toy set ``record`` describes (None when it
    is, or when there is no folder)."""
    if not osp.exists(target):
        return None
    marker = read_marker(target)
    if marker is None:
        return f'has no {MARKER} (incomplete or not a toy set)'
    if {k: marker.get(k) for k in record} != record:
        return 'was made with other settings: ' + json.dumps(marker.get('params'))
    return None


def make_toy_set(dataset: str, out_dir: str, overrides: Dict, force: bool = False) -> str:
    """Generate one toy set at ``<out_dir>/<dataset>`` unless an identical one is there.

    Args:
        dataset (str): Key of :data:`GENERATORS`.
        out_dir (str): Parent folder.
        overrides (dict): Generator arguments to change (``num_train``, ``num_val``, ``img_size``,
            ``num_classes``, ``seed``); None values keep the generator's defaults.
        force (bool): Replace an existing set. Defaults to False.

    Returns:
        str: ``'written'`` or ``'skipped'``.
    """
    generator = GENERATORS[dataset][0]
    record = toy_set_record(dataset, overrides)
    params = record['params']
    target = osp.abspath(osp.join(out_dir, dataset))

    if osp.exists(target) and not force:
        reason = other_settings(target, record)
        if reason is None:
            print(f'{target} exists and is complete ({params}); skipped. Pass --force to '
                  'generate it again.')
            return 'skipped'
        raise FileExistsError(f'{target} exists but {reason}. Pass --force to replace it, or '
                              'choose another --out-dir.')

    os.makedirs(out_dir, exist_ok=True)
    # Generate next to the target (same file system) so the final rename is atomic.
    tmp_dir = tempfile.mkdtemp(prefix=f'.{dataset}.tmp-', dir=out_dir)
    os.chmod(tmp_dir, 0o755)  # mkdtemp makes it private; the set should read like any folder
    try:
        info = generator(tmp_dir, **params)
        record['classes'] = list(info['classes'])
        if 'palette' in info:
            record['palette'] = [list(colour) for colour in info['palette']]
        with open(osp.join(tmp_dir, MARKER), 'w') as f:
            json.dump(record, f, indent=2)
        old_dir = None
        if osp.exists(target):
            old_dir = tempfile.mkdtemp(prefix=f'.{dataset}.old-', dir=out_dir)
            os.replace(target, osp.join(old_dir, dataset))
        os.replace(tmp_dir, target)
        if old_dir is not None:
            shutil.rmtree(old_dir)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    print(f'wrote {target}: classes {record["classes"]}, {params}')
    return 'written'
