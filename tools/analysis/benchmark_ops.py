# Copyright (c) mmgcp contributors. All rights reserved.
"""Benchmark the GCP head (covariance -> iSQRT -> upper triangle), forward + backward.

Compares mmgcp with two references written here from the math of docs/math.md:

(a) ``published``: the published algorithm as described, with a dense M x M centring matrix per
    sample, every Newton-Schulz iterate kept, plain autograd and a mask-indexed triangle;
(b) ``autograd``: a clean autograd version (centre, X X^T, the same loop).

Prints the median time of forward + backward (after warm-up; the methods take turns in each
repeat), the peak memory allocated during it, the ratios measured in this run, and the largest
relative difference (per sample, Frobenius) of outputs and input gradients against (b). On CPU
the peak is the high-water mark of the bytes torch allocates during one forward + backward
(from ``torch.profiler`` memory events); on CUDA it is ``torch.cuda.max_memory_allocated``
above the starting point.

Targets (one run, 1 thread; ratios, not absolute times): the fused ``mmgcp`` path >= 2.0x
faster than (b) and >= 2.5x faster than (a) with peak memory <= 0.4x of (b); the operators
composed by hand (``mmgcp unfused``) >= 1.0x of (b). Each line says whether this run met them.

``--mode power`` times the exact matrix power (``mmgcp.ops.matrix_power``) fwd + bwd on each
path of its eigendecomposition: on the input's device (on CUDA once per linear-algebra backend,
cuSOLVER and MAGMA) and offloaded to the CPU, next to the iSQRT iteration for scale.

Needs PyTorch only (no OpenMMLab package). Example::

    OMP_NUM_THREADS=1 python tools/analysis/benchmark_ops.py --batch-size 32 --size 14
    python tools/analysis/benchmark_ops.py --device cuda --batch-size 128 --size 14 28 \
        --dtype float32 bfloat16
    python tools/analysis/benchmark_ops.py --device cuda --mode power --batch-size 128
"""
import argparse
import contextlib
import os
import os.path as osp
import statistics
import sys
import time
from typing import Callable, Dict, List, Tuple

os.environ.setdefault('KINETO_LOG_LEVEL', '5')  # keep the profiler quiet

import torch  # noqa: E402
from torch import Tensor  # noqa: E402

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from mmgcp.ops import (  # noqa: E402
    covariance,
    covariance_isqrt,
    isqrt,
    matrix_power,
    triu_vectorize,
)

#: The targets of the issue (ratios measured in one run).
TARGETS = dict(fused_vs_autograd=2.0, fused_vs_published=2.5, fused_memory=0.4,
               unfused_vs_autograd=1.0)


def published_gcp(x: Tensor, num_iters: int) -> Tensor:
    """Reference (a): the published algorithm, as docs/math.md section 2 describes it."""
    batch, channels = x.shape[:2]
    x = x.reshape(batch, channels, -1)
    num_positions = x.shape[2]
    eye_m = torch.eye(num_positions, dtype=x.dtype, device=x.device)
    centring = (eye_m - 1.0 / num_positions) / num_positions  # (1/M)(I - 11^T/M)
    centring = centring.expand(batch, -1, -1).contiguous()  # dense, one per sample
    sigma = x.bmm(centring).bmm(x.transpose(1, 2))
    trace = sigma.diagonal(dim1=1, dim2=2).sum(dim=1).view(batch, 1, 1)
    a = sigma / trace
    eye3 = 3.0 * torch.eye(channels, dtype=x.dtype, device=x.device).expand(batch, -1, -1)
    ys: List[Tensor] = []
    zs: List[Tensor] = []
    if num_iters < 2:
        y = 0.5 * a.bmm(eye3 - a)
    else:
        t = 0.5 * (eye3 - a)
        ys.append(a.bmm(t))
        zs.append(t)
        for _ in range(num_iters - 2):
            t = 0.5 * (eye3 - zs[-1].bmm(ys[-1]))
            ys.append(ys[-1].bmm(t))
            zs.append(t.bmm(zs[-1]))
        y = 0.5 * ys[-1].bmm(eye3 - zs[-1].bmm(ys[-1]))
    out = y * trace.sqrt()
    mask = torch.ones(channels, channels, device=x.device).triu().flatten()
    index = mask.nonzero().flatten()
    return out.reshape(batch, channels * channels)[:, index]


def autograd_gcp(x: Tensor, num_iters: int) -> Tensor:
    """Reference (b): a clean autograd version of the same function."""
    x = x.flatten(2)
    centred = x - x.mean(dim=2, keepdim=True)
    sigma = centred.bmm(centred.transpose(1, 2)) / x.shape[2]
    trace = sigma.diagonal(dim1=1, dim2=2).sum(dim=1).view(-1, 1, 1)
    a = sigma / trace
    eye = torch.eye(a.shape[1], dtype=a.dtype, device=a.device)
    y, z = a, eye
    for _ in range(num_iters - 1):
        t = 1.5 * eye - 0.5 * (a if z is eye else z.bmm(y))
        y, z = y.bmm(t), (t if z is eye else t.bmm(z))
    y = 0.5 * y.bmm(3 * eye - (a if z is eye else z.bmm(y)))
    rows, cols = torch.triu_indices(a.shape[1], a.shape[1], device=a.device)
    return (y * trace.sqrt())[:, rows, cols]


def mmgcp_gcp(x: Tensor, num_iters: int) -> Tensor:
    """mmgcp: the fused covariance + iSQRT, then the upper triangle."""
    return triu_vectorize(covariance_isqrt(x, num_iters))


def mmgcp_unfused(x: Tensor, num_iters: int) -> Tensor:
    """mmgcp, operator by operator (covariance, isqrt, triu_vectorize)."""
    return triu_vectorize(isqrt(covariance(x), num_iters))


METHODS: Dict[str, Callable[[Tensor, int], Tensor]] = {
    '(a) published': published_gcp,
    '(b) autograd': autograd_gcp,
    'mmgcp': mmgcp_gcp,
    'mmgcp unfused': mmgcp_unfused,
}


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


#: Autocast dtype of the runs (None: none), set by :func:`benchmark`.
_AUTOCAST: Dict[str, torch.dtype] = {}


def _autocast(device: torch.device):
    dtype = _AUTOCAST.get('dtype')
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def run_once(fn: Callable, x: Tensor, weight: Tensor, num_iters: int) -> Tuple[Tensor, Tensor]:
    """One forward + backward; returns the output and the input gradient."""
    x.grad = None
    with _autocast(x.device):
        out = fn(x, num_iters)
        loss = (out.float() * weight).sum()
    loss.backward()
    return out.detach(), x.grad


def time_methods(methods: Dict[str, Callable], x: Tensor, weight: Tensor, num_iters: int,
                 repeats: int, warmup: int) -> Dict[str, float]:
    """Median wall time of forward + backward of each method, in milliseconds.

    The methods take turns within each repeat, so that a change of load on the machine during
    the run affects all of them alike.
    """
    for fn in methods.values():
        for _ in range(warmup):
            run_once(fn, x, weight, num_iters)
    times: Dict[str, List[float]] = {name: [] for name in methods}
    for _ in range(repeats):
        for name, fn in methods.items():
            _sync(x.device)
            start = time.perf_counter()
            run_once(fn, x, weight, num_iters)
            _sync(x.device)
            times[name].append(time.perf_counter() - start)
    return {name: 1e3 * statistics.median(values) for name, values in times.items()}


def peak_memory(fn: Callable, x: Tensor, weight: Tensor, num_iters: int) -> float:
    """Peak bytes allocated by torch during one forward + backward, in MB."""
    x.grad = None
    if x.device.type == 'cuda':
        _sync(x.device)
        torch.cuda.reset_peak_memory_stats(x.device)
        start = torch.cuda.memory_allocated(x.device)
        run_once(fn, x, weight, num_iters)
        _sync(x.device)
        return (torch.cuda.max_memory_allocated(x.device) - start) / 2**20
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        run_once(fn, x, weight, num_iters)
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == '[memory]']
    current = peak = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        current += event.nbytes()
        peak = max(peak, current)
    return peak / 2**20


def max_rel_diff(value: Tensor, reference: Tensor) -> float:
    """Largest per-sample relative Frobenius difference."""
    value, reference = value.flatten(1).double(), reference.flatten(1).double()
    return float(((value - reference).norm(dim=1) / reference.norm(dim=1)).max())


def _header(device: torch.device) -> None:
    if device.type == 'cpu' and hasattr(os, 'getloadavg'):
        print(f'   load average (1 min) before the run: {os.getloadavg()[0]:.2f} on '
              f'{os.cpu_count()} CPUs (other work on the machine makes CPU timings noisy)')
    if device.type == 'cuda':
        print(f'   GPU: {torch.cuda.get_device_name(device)}')


def _verdict(value: float, target: float, larger_is_better: bool = True) -> str:
    met = value >= target if larger_is_better else value <= target
    return 'met' if met else 'MISSED'


def benchmark(batch_size: int, channels: int, size: int, num_iters: int, repeats: int,
              warmup: int, device: torch.device, dtype: str = 'float32') -> Dict[str, dict]:
    """Run all methods on one configuration and print the table and the ratios.

    Returns:
        dict: Per method, ``time`` (ms), ``memory`` (MB), ``out_diff`` and ``grad_diff``.
    """
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch_size, channels, size, size, generator=generator).relu_()
    half = None if dtype == 'float32' else getattr(torch, dtype)
    _AUTOCAST['dtype'] = half
    x = x.to(device=device, dtype=half or torch.float32).requires_grad_()
    tri = channels * (channels + 1) // 2
    weight = torch.randn(batch_size, tri, generator=generator).to(device)
    print(f'\n== device={device} B={batch_size} C={channels} {size}x{size} '
          f'(M={size * size}) num_iters={num_iters} dtype={dtype}'
          f'{" (autocast)" if half else ""} repeats={repeats} '
          f'threads={torch.get_num_threads()} torch={torch.__version__}')
    _header(device)
    # The reference of the differences is (b) in float32 without autocast.
    _AUTOCAST['dtype'] = None
    ref_out, ref_grad = run_once(autograd_gcp, x.detach().float().requires_grad_(), weight,
                                 num_iters)
    ref_grad = ref_grad.clone()
    _AUTOCAST['dtype'] = half
    results = {}
    for name, fn in METHODS.items():
        out, grad = run_once(fn, x, weight, num_iters)
        results[name] = dict(
            memory=peak_memory(fn, x, weight, num_iters),
            out_diff=max_rel_diff(out, ref_out),
            grad_diff=max_rel_diff(grad, ref_grad))
    for name, value in time_methods(METHODS, x, weight, num_iters, repeats, warmup).items():
        results[name]['time'] = value
    base_a, base_b = results['(a) published'], results['(b) autograd']
    header = (f"{'method':<15}{'fwd+bwd ms':>12}{'peak MB':>10}{'x vs (a)':>10}"
              f"{'x vs (b)':>10}{'mem/(b)':>9}{'out diff':>11}{'grad diff':>11}")
    print(header)
    print('-' * len(header))
    for name, res in results.items():
        print(f"{name:<15}{res['time']:>12.1f}{res['memory']:>10.1f}"
              f"{base_a['time'] / res['time']:>10.2f}{base_b['time'] / res['time']:>10.2f}"
              f"{res['memory'] / base_b['memory']:>9.2f}{res['out_diff']:>11.1e}"
              f"{res['grad_diff']:>11.1e}")
    ours, unfused = results['mmgcp'], results['mmgcp unfused']
    fused_b = base_b['time'] / ours['time']
    fused_a = base_a['time'] / ours['time']
    memory = ours['memory'] / base_b['memory']
    unfused_b = base_b['time'] / unfused['time']
    print(f"RATIOS (this run): fused {fused_b:.2f}x faster than (b) (target >= "
          f"{TARGETS['fused_vs_autograd']}: {_verdict(fused_b, TARGETS['fused_vs_autograd'])}), "
          f"{fused_a:.2f}x faster than (a) (target >= {TARGETS['fused_vs_published']}: "
          f"{_verdict(fused_a, TARGETS['fused_vs_published'])}), peak memory {memory:.2f}x of "
          f"(b) (target <= {TARGETS['fused_memory']}: "
          f"{_verdict(memory, TARGETS['fused_memory'], False)}); unfused {unfused_b:.2f}x of (b) "
          f"(target >= {TARGETS['unfused_vs_autograd']}: "
          f"{_verdict(unfused_b, TARGETS['unfused_vs_autograd'])}); max relative output diff "
          f"vs (b) float32 {ours['out_diff']:.1e}, gradient diff {ours['grad_diff']:.1e}")
    _AUTOCAST['dtype'] = None
    return results


def _power_paths(device: torch.device) -> Dict[str, Tuple[Callable, Callable]]:
    """name -> (function of sigma, context factory) for ``--mode power``."""
    paths: Dict[str, Tuple[Callable, Callable]] = {}
    if device.type == 'cuda':
        def backend(name):
            @contextlib.contextmanager
            def use():
                previous = torch.backends.cuda.preferred_linalg_library()
                torch.backends.cuda.preferred_linalg_library(name)
                try:
                    yield
                finally:
                    torch.backends.cuda.preferred_linalg_library(previous)
            return use
        paths['eigh on GPU (cusolver)'] = (lambda s: matrix_power(s, eigh_device='input'),
                                           backend('cusolver'))
        paths['eigh on GPU (magma)'] = (lambda s: matrix_power(s, eigh_device='input'),
                                        backend('magma'))
        paths['eigh offloaded to CPU'] = (lambda s: matrix_power(s, eigh_device='cpu'),
                                          contextlib.nullcontext)
    else:
        paths['eigh on CPU'] = (lambda s: matrix_power(s, eigh_device='input'),
                                contextlib.nullcontext)
    paths['iSQRT (5 iters), for scale'] = (lambda s: isqrt(s, 5), contextlib.nullcontext)
    return paths


def benchmark_power(batch_size: int, channels: int, size: int, repeats: int, warmup: int,
                    device: torch.device) -> Dict[str, float]:
    """Time ``matrix_power`` fwd + bwd on each eigendecomposition path; print the table.

    Returns:
        dict: Median milliseconds per path (a failing path is reported and left out).
    """
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch_size, channels, size * size, generator=generator).relu_()
    sigma = covariance(x).to(device).requires_grad_()
    weight = torch.randn(batch_size, channels, channels, generator=generator).to(device)
    print(f'\n== matrix power: device={device} B={batch_size} d={channels} (covariance of '
          f'{size}x{size} positions) repeats={repeats} threads={torch.get_num_threads()} '
          f'torch={torch.__version__}')
    _header(device)
    times: Dict[str, List[float]] = {}
    paths = _power_paths(device)
    for name, (fn, context) in paths.items():
        try:
            with context():
                for _ in range(warmup):
                    sigma.grad = None
                    (fn(sigma) * weight).sum().backward()
        except RuntimeError as error:  # e.g. a torch build without MAGMA
            print(f'   {name}: not available ({str(error).splitlines()[0]})')
            continue
        times[name] = []
    for _ in range(repeats):
        for name in times:
            fn, context = paths[name]
            with context():
                sigma.grad = None
                _sync(device)
                start = time.perf_counter()
                (fn(sigma) * weight).sum().backward()
                _sync(device)
                times[name].append(time.perf_counter() - start)
    medians = {name: 1e3 * statistics.median(values) for name, values in times.items()}
    fastest = min((v for k, v in medians.items() if not k.startswith('iSQRT')), default=None)
    for name, value in medians.items():
        print(f'{name:<30}{value:>12.1f} ms{value / fastest if fastest else float("nan"):>8.2f}x '
              f'of the fastest eigh path')
    return medians


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--batch-size', type=int, default=32, help='batch size on CPU')
    parser.add_argument('--channels', type=int, default=256, help='channels d')
    parser.add_argument(
        '--size', type=int, nargs='+', default=[14], help='feature map side(s) (M = size^2)')
    parser.add_argument('--num-iters', type=int, default=5, help='Newton-Schulz iterations')
    parser.add_argument('--repeats', type=int, default=10, help='timed runs (median)')
    parser.add_argument('--warmup', type=int, default=2, help='untimed runs first')
    parser.add_argument(
        '--device',
        default='auto',
        choices=['auto', 'cpu', 'cuda'],
        help="'auto': CPU at --batch-size, then CUDA at --gpu-batch-size when available")
    parser.add_argument('--gpu-batch-size', type=int, default=128, help='batch size on CUDA')
    parser.add_argument(
        '--dtype',
        nargs='+',
        default=['float32'],
        choices=['float32', 'bfloat16', 'float16'],
        help='input dtype(s); half types run under autocast (mmgcp computes in float32)')
    parser.add_argument(
        '--mode',
        default='gcp',
        choices=['gcp', 'power'],
        help="'gcp': the GCP head, mmgcp vs the references; 'power': the eigendecomposition "
        'paths of the matrix power')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    runs = []
    if args.device in ('auto', 'cpu'):
        runs.append((torch.device('cpu'), args.batch_size))
    if args.device == 'cuda' or (args.device == 'auto' and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise SystemExit('--device cuda was asked for but torch.cuda.is_available() is False.')
        batch = args.gpu_batch_size if args.device == 'auto' else args.batch_size
        runs.append((torch.device('cuda'), batch))
    for device, batch in runs:
        for size in args.size:
            if args.mode == 'power':
                benchmark_power(batch, args.channels, size, args.repeats, args.warmup, device)
                continue
            for dtype in args.dtype:
                benchmark(batch, args.channels, size, args.num_iters, args.repeats,
                          args.warmup, device, dtype)


if __name__ == '__main__':
    main()
