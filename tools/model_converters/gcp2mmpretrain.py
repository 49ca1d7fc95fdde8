# Copyright (c) mmgcp contributors. All rights reserved.
"""Convert published GCP / DropCov / GAP ResNet checkpoints to mmpretrain checkpoints.

The source layout (CVPR'20 / DropCov release, fast-MPN-COV training, fine-tuning or URL weights,
torchvision), the depth and the reduction width are read off the keys and shapes. The output holds
``backbone.*``, ``neck.*`` and ``head.*`` for mmgcp's ``configs/pretrain/resnet{depth}-{gcp,dropcov,
gap}_8xb32_in1k.py``, and ``meta`` that describes the source. Examples::

    python tools/model_converters/gcp2mmpretrain.py iSQRT-COV_resnet50.pth.tar r50-gcp.pth
    python tools/model_converters/gcp2mmpretrain.py r50-gcp.pth.tar r50-gcp_backbone.pth \\
        --backbone-only --config configs/mask_rcnn/mask-rcnn_r50-gcp_fpn_1x_coco.py
"""
import argparse

from mmengine.config import DictAction

from mmgcp.converters import SOURCE_FORMATS, convert_checkpoint, describe
from mmgcp.converters.checkpoint_io import run_conversion
from mmgcp.utils import add_trust_checkpoint_argument


def parse_args():
    formats = '; '.join(f'{name}: {desc}' for name, desc in SOURCE_FORMATS.items())
    parser = argparse.ArgumentParser(
        description='Convert a published GCP / DropCov / GAP ResNet checkpoint to mmpretrain '
        'style (backbone.*, neck.*, head.* of mmgcp\'s configs).')
    parser.add_argument('src', help='source checkpoint path')
    parser.add_argument('dst', help='save path')
    parser.add_argument(
        '--format',
        default='auto',
        choices=['auto'] + list(SOURCE_FORMATS),
        help=f'source layout; auto detects it from the keys ({formats})')
    parser.add_argument(
        '--backbone-only',
        action='store_true',
        help='write only the backbone.* keys, for detection and segmentation configs '
        "(init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.'))")
    parser.add_argument(
        '--config',
        help='fail unless the result loads strictly into this config\'s model (its backbone '
        'only with --backbone-only)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='overrides of --config, e.g. model.neck.reduced_channels=128 '
        'model.head.in_channels=8256')
    add_trust_checkpoint_argument(parser, deprecated_allow_pickle=True)
    return parser.parse_args()


def main():
    args = parse_args()
    run_conversion(
        convert_checkpoint, args.src, args.dst, 'source_format', describe, fmt=args.format,
        backbone_only=args.backbone_only, config=args.config, cfg_options=args.cfg_options)


if __name__ == '__main__':
    main()
