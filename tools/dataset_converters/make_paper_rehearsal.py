# Copyright (c) mmgcp contributors. All rights reserved.
"""Write the inputs of the paper rehearsal: tiny ImageNet / COCO / ADE20K sets in the real layouts
and random-weight checkpoints in the published layouts.

Example::

    python tools/dataset_converters/make_paper_rehearsal.py work_dirs/rehearsal

writes ``work_dirs/rehearsal/data/{imagenet,coco,ade}`` and ``work_dirs/rehearsal/published/``
(``mpncovresnet50/model_best.pth.tar``, ``iSQRT-COV-R50.pth.tar``, ``DropCov-R50.pth.tar``,
``resnet50-<sha256[:8]>.pth``) and prints what it wrote. A folder already written with the same
settings is kept; a folder there that this tool did not write (a real data set) is refused.
"""
import argparse
import sys
from typing import Dict, List, Optional

from mmgcp.datasets.paper_layout import format_rehearsal, make_paper_rehearsal


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write tiny data sets in the ImageNet / COCO 2017 / ADE20K layouts and '
        'random-weight checkpoints in the published GCP / DropCov / torchvision layouts, for '
        'rehearsing configs/benchmark/paper.py.')
    parser.add_argument('root', help='folder to write data/ and published/ into')
    parser.add_argument('--num-imagenet-val', type=int, default=8,
                        help='ImageNet validation images (default: 8)')
    parser.add_argument('--num-coco-train', type=int, default=4,
                        help='COCO training images (default: 4)')
    parser.add_argument('--num-coco-val', type=int, default=2,
                        help='COCO validation images (default: 2)')
    parser.add_argument('--num-ade-train', type=int, default=4,
                        help='ADE20K training images (default: 4)')
    parser.add_argument('--num-ade-val', type=int, default=2,
                        help='ADE20K validation images (default: 2)')
    parser.add_argument('--depth', type=int, default=50, help='ResNet depth (default: 50)')
    parser.add_argument('--reduced-channels', type=int, default=256,
                        help='GCP / DropCov reduction width d (default: 256)')
    parser.add_argument('--num-classes', type=int, default=1000,
                        help='classifier outputs of the checkpoints (default: 1000)')
    parser.add_argument('--seed', type=int, default=0, help='seed of every image and weight')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> Dict:
    args = parse_args(argv)
    try:
        written = make_paper_rehearsal(
            args.root, num_imagenet_val=args.num_imagenet_val,
            num_coco_train=args.num_coco_train, num_coco_val=args.num_coco_val,
            num_ade_train=args.num_ade_train, num_ade_val=args.num_ade_val, depth=args.depth,
            reduced_channels=args.reduced_channels, num_classes=args.num_classes, seed=args.seed)
    except (FileExistsError, ValueError) as error:
        sys.exit(f'make_paper_rehearsal.py: {error}')
    print(format_rehearsal(written))
    return written


if __name__ == '__main__':
    main()
