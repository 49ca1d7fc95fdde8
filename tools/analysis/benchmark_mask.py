# Copyright (c) mmgcp contributors. All rights reserved.
"""The cost of the padding mask: CovAttentionNeck forward + backward, masked vs unmasked.

One C5-sized level (R-50: 2048 channels; at 1333 x 800 a batch is padded to 800 x 1344, so C5 is
25 x 42) through the neck (2048 -> 256 reduction, iSQRT covariance, MLP), for a batch of images
of different sizes: unmasked (every position) and masked (each image's own positions, inside the
padding scope a padding-aware detector opens). The two take turns in every repeat; the script
prints the median wall and CPU time of each and their ratio, measured in this run. Also the
covariance operator alone (``covariance_isqrt`` on the reduced map), where the mask is a larger
share. Quote the machine's load (``uptime``) with the numbers.

    OMP_NUM_THREADS=1 python tools/analysis/benchmark_mask.py
    python tools/analysis/benchmark_mask.py --batch-size 2 --device cuda
"""
import argparse
import statistics
import time

import torch

from mmgcp.models import CovAttentionNeck
from mmgcp.models.utils import BatchPadding, current_valid_mask, padding_scope
from mmgcp.ops import covariance_isqrt


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Cost of the padding mask of the GCP neck')
    parser.add_argument('--batch-size', type=int, default=2, help='images per batch')
    parser.add_argument('--channels', type=int, default=2048, help='C5 channels')
    parser.add_argument('--input', type=int, nargs=2, default=[800, 1344],
                        help='padded input H W (C5 is H/32 x W/32)')
    parser.add_argument('--repeats', type=int, default=20, help='timed runs of each (median)')
    parser.add_argument('--warmup', type=int, default=3, help='untimed runs first')
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    return parser.parse_args()


def _timed(step, device: torch.device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
    wall, cpu = time.perf_counter(), time.process_time()
    step()
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    args = parse_args()
    device = torch.device(args.device)
    height, width = args.input
    # image i keeps the full height and loses a tenth of the width per index: all differ
    padding = BatchPadding(tuple((height, width - width * i // 10) for i in range(args.batch_size)),
                           (height, width))
    torch.manual_seed(0)
    neck = CovAttentionNeck([args.channels]).to(device).train()
    c5 = torch.randn(args.batch_size, args.channels, -(-height // 32), -(-width // 32),
                     device=device).relu().requires_grad_(True)
    with torch.no_grad():
        reduced = neck.reduction(c5).detach().requires_grad_(True)
    with padding_scope(padding):
        mask = current_valid_mask(c5)
    valid = mask.flatten(1).sum(1).tolist() if mask is not None else 'all'

    def neck_step(masked):
        with padding_scope(padding if masked else None):
            neck([c5])[0].square().mean().backward()

    def op_step(masked):
        covariance_isqrt(reduced, valid_mask=mask if masked else None).square().sum().backward()

    print(f'device {device}, {torch.get_num_threads()} thread(s); C5 {tuple(c5.shape)}, valid '
          f'positions per image {valid} of {c5.shape[-2] * c5.shape[-1]}')
    for name, step in (('neck fwd+bwd', neck_step), ('covariance_isqrt fwd+bwd', op_step)):
        times = {False: [], True: []}
        for index in range(args.warmup + args.repeats):
            for masked in (False, True):
                measured = _timed(lambda: step(masked), device)
                if index >= args.warmup:
                    times[masked].append(measured)
        medians = {masked: [statistics.median(t[k] for t in runs) for k in (0, 1)]
                   for masked, runs in times.items()}
        (wall_u, cpu_u), (wall_m, cpu_m) = medians[False], medians[True]
        print(f'{name}: unmasked {wall_u * 1e3:.2f} ms (cpu {cpu_u * 1e3:.2f}), masked '
              f'{wall_m * 1e3:.2f} ms (cpu {cpu_m * 1e3:.2f}); masked / unmasked = '
              f'{wall_m / wall_u:.3f} wall, {cpu_m / cpu_u:.3f} cpu')


if __name__ == '__main__':
    main()
