# Copyright (c) mmgcp contributors. All rights reserved.
"""Generate mmgcp's toy datasets (ImageNet-, COCO- and ADE20K-format) from a seed.

Example::

    python tools/dataset_converters/make_toy_data.py all --out-dir data/toy --seed 0

writes ``data/toy/cls``, ``data/toy/coco`` and ``data/toy/ade20k``. Each set is generated in a
temporary folder next to its target and renamed into place when complete, with a ``toy_data.json``
recording how it was made; a complete set made with the same settings is skipped.
"""
import argparse
import sys
from typing import Dict, List, Optional

from mmgcp.datasets.toy.writer import GENERATORS, make_toy_set


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
            results[dataset] = make_toy_set(dataset, args.out_dir, overrides, force=args.force)
        except (FileExistsError, ValueError) as error:
            sys.exit(f'make_toy_data.py {dataset}: {error}')
    return results


if __name__ == '__main__':
    main()
