# Copyright (c) mmgcp contributors. All rights reserved.
"""Generate mmgcp's toy datasets (ImageNet-, COCO- and ADE20K-format) from a seed.

Example::

    python tools/dataset_converters/make_toy_data.py all --out-dir data/toy --seed 0

writes ``data/toy/cls``, ``data/toy/coco`` and ``data/toy/ade20k``. Each set is generated in a
temporary folder next to its target and renamed into place when complete, with a ``toy_data.json``
recording how it was made; a complete set made with the same settings is skipped.
"""
import argparse
import inspect
import json
import os
import os.path as osp
import shutil
import sys
import tempfile
from typing import Callable, Dict, List, Optional

from mmgcp.datasets.toy import make_toy_ade20k, make_toy_classification, make_toy_coco

#: Sub-folder of --out-dir, generator, and the generator's names for --num-train / --num-val.
GENERATORS: Dict[str, tuple] = {
    'cls': (make_toy_classification, 'num_train_per_class', 'num_val_per_class'),
    'coco': (make_toy_coco, 'num_train', 'num_val'),
    'ade20k': (make_toy_ade20k, 'num_train', 'num_val'),
}
#: Written last into every generated set; its presence marks the set complete.
MARKER = 'toy_data.json'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate the toy datasets of mmgcp deterministically from a seed.')
    parser.add_argument(
        'dataset', choices=[*GENERATORS, 'all'], help='which toy set to write ("all": every one)')
    parser.add_argument(
        '--out-dir', default='data/toy', help='parent folder; each set goes to <out-dir>/<dataset>')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    default = "default: the generator's"
    parser.add_argument(
        '--num-train', type=int, help=f'training images (per class for "cls"); {default}')
    parser.add_argument(
        '--num-val', type=int, help=f'validation images (per class for "cls"); {default}')
    parser.add_argument('--img-size', type=int, help=f'image side in pixels; {default}')
    parser.add_argument('--num-classes', type=int, help=f'number of classes; {default}')
    parser.add_argument(
        '--force', action='store_true', help='replace an existing set instead of skipping it')
    return parser.parse_args(argv)


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


def make_one(dataset: str, out_dir: str, overrides: Dict, force: bool = False) -> str:
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
    generator, train_key, val_key = GENERATORS[dataset]
    overrides = dict(overrides)
    overrides[train_key] = overrides.pop('num_train', None)
    overrides[val_key] = overrides.pop('num_val', None)
    params = resolve_params(generator, overrides)
    target = osp.abspath(osp.join(out_dir, dataset))
    record = dict(generator=f'mmgcp.datasets.toy.{generator.__name__}', params=params)

    if osp.exists(target) and not force:
        marker = read_marker(target)
        if marker is not None and {k: marker.get(k) for k in record} == record:
            print(f'{target} exists and is complete ({params}); skipped. Pass --force to '
                  'generate it again.')
            return 'skipped'
        reason = ('was made with other settings: ' + json.dumps(marker.get('params'))
                  if marker is not None else f'has no {MARKER} (incomplete or not a toy set)')
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


def main(argv: Optional[List[str]] = None) -> Dict[str, str]:
    args = parse_args(argv)
    datasets = list(GENERATORS) if args.dataset == 'all' else [args.dataset]
    overrides = dict(
        seed=args.seed,
        num_train=args.num_train,
        num_val=args.num_val,
        img_size=args.img_size,
        num_classes=args.num_classes)
    results = {}
    for dataset in datasets:
        try:
            results[dataset] = make_one(dataset, args.out_dir, overrides, force=args.force)
        except (FileExistsError, ValueError) as error:
            sys.exit(f'make_toy_data.py {dataset}: {error}')
    return results


if __name__ == '__main__':
    main()
