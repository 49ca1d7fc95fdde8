# Copyright (c) mmgcp contributors. All rights reserved.
"""FLOPs and parameters of an mmpretrain, mmdet or mmseg config, GCP ops included.

One multiply-add counts as one FLOP (mmengine's convention, as mmpretrain's get_flops.py). The
output ends with ``Flops: <x>G`` and ``Params: <y>M``.

    python tools/analysis/get_flops.py configs/pretrain/resnet50-gcp_8xb32_in1k.py
    python tools/analysis/get_flops.py configs/upernet/upernet_r50-gcp_4xb4-160k_ade20k-512x512.py
"""
import argparse

from mmengine.config import DictAction

import mmgcp  # noqa: F401  registers mmgcp and its `mmgcp::` configs
from mmgcp.complexity import format_flops_report, get_flops


def parse_args():
    parser = argparse.ArgumentParser(description='Count the FLOPs and parameters of a model')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--shape', type=int, nargs='+', default=None,
        help='input size H [W]; default 224 (mmpretrain), 800 1333 (mmdet), the crop size '
        '(mmseg)')
    parser.add_argument('--max-depth', type=int, default=3, help='depth of the module table')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, help='override settings of the config')
    return parser.parse_args()


def main():
    args = parse_args()
    result = get_flops(args.config, args.shape, args.cfg_options, args.max_depth)
    print(format_flops_report(result, args.config))


if __name__ == '__main__':
    main()
