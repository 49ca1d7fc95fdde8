# Copyright (c) mmgcp contributors. All rights reserved.
"""Throughput (images/s) and peak memory of a config's model: inference and one training step.

Warm-up, timed repeats and the median, as mmdet's benchmark.py; synthetic images, so data loading
is not timed. Quote the machine and its load with the numbers (`uptime`).

    python tools/analysis/benchmark_model.py configs/pretrain/resnet50-gcp_8xb32_in1k.py
    python tools/analysis/benchmark_model.py CONFIG --device cuda --batch-size 64 --out speed.json
"""
import argparse
import json

from mmengine.config import DictAction

import mmgcp  # noqa: F401  registers mmgcp and its `mmgcp::` configs
from mmgcp.complexity import benchmark_model, format_speed_report


def parse_args():
    parser = argparse.ArgumentParser(description='Benchmark the speed and memory of a model')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--shape', type=int, nargs='+', default=None, help='input size H [W]')
    parser.add_argument('--batch-size', type=int, default=8, help='images per iteration')
    parser.add_argument('--device', default='cpu', help="'cpu', 'cuda' or 'cuda:N'")
    parser.add_argument('--warmup', type=int, default=2, help='untimed iterations first')
    parser.add_argument('--repeats', type=int, default=5, help='timed iterations')
    parser.add_argument(
        '--no-train', action='store_true', help='time inference only, not a training step')
    parser.add_argument('--out', help='also write the results to this JSON file')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, help='override settings of the config')
    return parser.parse_args()


def main():
    args = parse_args()
    result = benchmark_model(
        args.config,
        shape=args.shape,
        batch_size=args.batch_size,
        device=args.device,
        warmup=args.warmup,
        repeats=args.repeats,
        train_step=not args.no_train,
        cfg_options=args.cfg_options)
    print(format_speed_report(result))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result.to_dict(), f, indent=2)


if __name__ == '__main__':
    main()
