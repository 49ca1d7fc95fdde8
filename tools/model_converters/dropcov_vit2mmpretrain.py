# Copyright (c) mmgcp contributors. All rights reserved.
"""Convert the published DropCov ViT checkpoints (Deit_drop_Tiny/Small/Base) to mmpretrain.

The output holds ``backbone.*`` (``mmgcp.DenseTokenViT``) and ``head.*``
(``mmgcp.MultiHeadCovClsHead``) for ``configs/pretrain/densetok-vit-{tiny,small,base}-dropcov_
8xb128_in1k.py``, and ``meta`` that describes the source. Examples::

    python tools/model_converters/dropcov_vit2mmpretrain.py Deit_drop_Small.pth.tar \\
        checkpoints/densetok-vit-small-dropcov_8xb128_in1k.pth
    python tools/model_converters/dropcov_vit2mmpretrain.py Deit_drop_Small.pth.tar \\
        checkpoints/densetok-vit-small-dropcov_trunk.pth --backbone-only \\
        --config configs/upernet/upernet_densetok-vit-s-dropcov_8xb2-160k_ade20k-512x512.py
"""
import argparse

from mmengine.config import DictAction

from mmgcp.converters.checkpoint_io import run_conversion
from mmgcp.converters.dropcov_vit import SOURCE_FORMAT, WEIGHTS, convert_checkpoint, describe
from mmgcp.utils import add_trust_checkpoint_argument


def parse_args():
    parser = argparse.ArgumentParser(
        description='Convert a published DropCov ViT checkpoint (mingzeG/DropCov, Transformers: '
        f'{SOURCE_FORMAT[1]}) to mmpretrain style (backbone.*, head.* of mmgcp\'s configs).')
    parser.add_argument('src', help='source checkpoint path')
    parser.add_argument('dst', help='save path')
    parser.add_argument(
        '--weights',
        default='auto',
        choices=WEIGHTS,
        help='ema: state_dict_ema; model: state_dict; auto (default): the EMA weights when the '
        'checkpoint has them, as the published evaluation reads them')
    parser.add_argument(
        '--num-heads',
        type=int,
        help='attention heads, only for widths other than the published 240/384/768')
    parser.add_argument(
        '--backbone-only',
        action='store_true',
        help="write only the backbone.* keys, for UperNet (init_cfg prefix='backbone.')")
    parser.add_argument(
        '--config',
        help="fail unless the result loads strictly into this config's model (its backbone "
        'only with --backbone-only)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, help='overrides of --config')
    add_trust_checkpoint_argument(parser, deprecated_allow_pickle=True)
    return parser.parse_args()


def main():
    args = parse_args()
    run_conversion(
        convert_checkpoint, args.src, args.dst, 'source_meta.weights', describe,
        weights=args.weights, num_heads=args.num_heads, backbone_only=args.backbone_only,
        config=args.config, cfg_options=args.cfg_options)


if __name__ == '__main__':
    main()
