# Copyright (c) mmgcp contributors. All rights reserved.
"""Throughput and peak memory of a config's model: inference and one training step.

In the style of mmdet's ``tools/analysis_tools/benchmark.py``: warm-up iterations first, then
timed repeats, and the median time per iteration. The batch is synthetic and made once (see
:mod:`mmgcp.complexity.inputs`), so data loading is not part of the time. Peak memory is the
CUDA allocator's peak on a GPU and, on a CPU, the peak resident set size of the process sampled
every 2 ms during the phase (warm-up and repeats), and its growth over the size before the phase.
"""
import os
import statistics
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.config import Config

from .inputs import build_model, input_shape, load_config, synthetic_batch


@dataclass
class PhaseResult:
    """Timing of one phase (``inference`` or ``train_step``).

    Attributes:
        median_s (float): Median seconds per iteration.
        images_per_s (float): Batch size over the median time.
        times_s (list[float]): Every timed iteration.
        median_cpu_s (float): Median CPU seconds of the process per iteration (all threads):
            on a loaded machine a steadier measure of the work than the wall time.
        peak_mem_mb (float): Peak memory (CUDA allocated, or process RSS on CPU), MiB.
        peak_mem_growth_mb (float): Peak minus memory before the phase (before its warm-up),
            MiB.
    """
    median_s: float
    images_per_s: float
    times_s: List[float]
    median_cpu_s: float
    peak_mem_mb: float
    peak_mem_growth_mb: float


@dataclass
class SpeedResult:
    """What :func:`benchmark_model` measured.

    Attributes:
        config (str): The config.
        device (str): ``cpu`` or ``cuda:N``, with the CPU thread count.
        batch_size (int): Images per iteration.
        input_shape (tuple): ``(H, W)`` of the images.
        params (int): Number of parameters of the model (what the times are for).
        phases (dict[str, PhaseResult]): ``inference`` and (unless skipped) ``train_step``.
    """
    config: str
    device: str
    batch_size: int
    input_shape: tuple
    params: int
    phases: Dict[str, PhaseResult] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Plain-dict form (for JSON)."""
        return asdict(self)


class _RSSPeak:
    """Sample the process's resident set size in a thread; ``peak`` is the largest seen."""

    def __init__(self, interval: float = 0.002):
        import psutil
        self._process = psutil.Process(os.getpid())
        self.interval = interval
        self.start = self.peak = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def _time_phase(step, device: torch.device, batch_size: int, warmup: int,
                repeats: int) -> PhaseResult:
    # memory is watched from before the warm-up, so that the first allocations (which the
    # allocator keeps for the timed repeats) count in the growth
    times, cpu_times = [], []
    if device.type == 'cuda':
        _sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        for _ in range(warmup):
            step()
        _sync(device)
        for _ in range(repeats):
            start, cpu_start = time.perf_counter(), time.process_time()
            step()
            _sync(device)
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
        peak = torch.cuda.max_memory_allocated(device)
    else:
        with _RSSPeak() as rss:
            for _ in range(warmup):
                step()
            for _ in range(repeats):
                start, cpu_start = time.perf_counter(), time.process_time()
                step()
                times.append(time.perf_counter() - start)
                cpu_times.append(time.process_time() - cpu_start)
        before, peak = rss.start, rss.peak
    median = statistics.median(times)
    return PhaseResult(
        median_s=median,
        images_per_s=batch_size / median,
        times_s=times,
        median_cpu_s=statistics.median(cpu_times),
        peak_mem_mb=peak / 2**20,
        peak_mem_growth_mb=(peak - before) / 2**20)


def benchmark_model(config: Union[str, Config],
                    shape: Optional[Sequence[int]] = None,
                    batch_size: int = 8,
                    device: str = 'cpu',
                    warmup: int = 2,
                    repeats: int = 5,
                    train_step: bool = True,
                    cfg_options: Optional[dict] = None) -> SpeedResult:
    """Time inference (``mode='predict'`` in eval mode, no gradient) and one training step.

    A training step is ``mode='loss'`` in train mode, the summed loss's backward and an SGD
    step (lr 1e-6: the weights barely move, so every repeat costs the same).

    Args:
        config (str | Config): Config of mmpretrain, mmdet or mmseg.
        shape (Sequence[int], optional): ``H`` or ``H W``; the library default when None
            (see :func:`mmgcp.complexity.input_shape`).
        batch_size (int): Images per iteration. Defaults to 8.
        device (str): ``'cpu'``, ``'cuda'`` or ``'cuda:N'``. Defaults to ``'cpu'``.
        warmup (int): Untimed iterations first. Defaults to 2.
        repeats (int): Timed iterations (the median is reported). Defaults to 5.
        train_step (bool): Also time a training step. Defaults to True.
        cfg_options (dict, optional): Config overrides.

    Returns:
        SpeedResult: The parameter count; median times, images/s and peak memory per phase.
    """
    if batch_size < 1 or repeats < 1 or warmup < 0:
        raise ValueError(f'Need batch_size >= 1, repeats >= 1 and warmup >= 0, got '
                         f'{batch_size}, {repeats} and {warmup}.')
    dev = torch.device(device)
    if dev.type == 'cuda' and not torch.cuda.is_available():
        raise RuntimeError(f"device='{device}' but no CUDA GPU is visible; use --device cpu.")
    cfg = load_config(config, cfg_options)
    size = input_shape(cfg, shape)
    torch.manual_seed(0)
    model = build_model(cfg, dev)
    name = str(dev) if dev.type == 'cuda' else f'cpu ({torch.get_num_threads()} threads)'
    result = SpeedResult(
        config=config if isinstance(config, str) else '<Config>',
        device=name,
        batch_size=batch_size,
        input_shape=tuple(size),
        params=sum(p.numel() for p in model.parameters()))

    with torch.no_grad():
        batch = synthetic_batch(model, cfg, size, batch_size)

    def infer():
        with torch.no_grad():
            model(batch['inputs'], batch.get('data_samples'), mode='predict')

    result.phases['inference'] = _time_phase(infer, dev, batch_size, warmup, repeats)

    if train_step:
        model.train()
        train_batch = synthetic_batch(model, cfg, size, batch_size, with_labels=True)
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-6, momentum=0.9)

        def train():
            losses = model(train_batch['inputs'], train_batch['data_samples'], mode='loss')
            loss, _ = model.parse_losses(losses)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        result.phases['train_step'] = _time_phase(train, dev, batch_size, warmup, repeats)
    return result


def format_speed_report(result: SpeedResult) -> str:
    """One line per phase: median time, images/s and peak memory.

    Args:
        result (SpeedResult): From :func:`benchmark_model`.

    Returns:
        str: The report.
    """
    lines = [
        f'Config: {result.config}',
        f'Device: {result.device}, batch {result.batch_size}, input {result.input_shape}, '
        f'{result.params} parameters',
    ]
    mem = 'peak CUDA allocated' if result.device.startswith('cuda') else 'peak process RSS'
    for phase, res in result.phases.items():
        lines.append(
            f'{phase:<10} median {res.median_s * 1000:9.1f} ms/iter  {res.images_per_s:8.2f} '
            f'images/s  (CPU {res.median_cpu_s * 1000:.0f} ms/iter)  {mem} '
            f'{res.peak_mem_mb:8.1f} MiB (+{res.peak_mem_growth_mb:.1f} MiB during the phase)  '
            f'[{len(res.times_s)} repeats]')
    return '\n'.join(lines)
