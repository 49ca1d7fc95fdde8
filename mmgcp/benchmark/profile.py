# Copyright (c) mmgcp contributors. All rights reserved.
"""Where the time of a benchmark goes: run it once with ``--profile`` and break it down.

CPU time (user + sys) is the figure that does not depend on what else runs on the machine; wall
time is reported with the load average next to it.
"""
import json
import os
import os.path as osp
import resource
import subprocess
import sys
import time
from collections import defaultdict
from typing import Dict, List, Optional

from .experiment import Run
from .inprocess import STAGES
from .plan import read_plan
from .status import read_status

#: What a fresh tool process imports before it can build a Runner for any of the three tasks.
IMPORTS = 'import mmgcp, mmdet.models, mmseg.models, mmpretrain.models'


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_start_cost(python: str = sys.executable, repo_root: str = '.') -> Dict[str, float]:
    """CPU and wall time of starting Python and importing what a tool process needs."""
    cpu, wall = _children_cpu(), time.perf_counter()
    env = dict(os.environ, PYTHONPATH=osp.abspath(repo_root) + os.pathsep +
               os.environ.get('PYTHONPATH', ''))
    subprocess.run([python, '-c', IMPORTS], check=True, cwd=repo_root, env=env)
    return dict(cpu_s=_children_cpu() - cpu, wall_s=time.perf_counter() - wall)


def profile_breakdown(work_dir: str) -> dict:
    """Aggregate the ``profile`` entries of every run's status in a benchmark's results.json.

    Returns:
        dict: ``by_task``: task -> dict(runs, cpu_s, wall_s, stages_cpu_s={stage: s}),
        ``stages_cpu_s`` / ``stages_wall_s`` summed over all runs, ``runs_cpu_s``, ``imports``
        (the workers' one-off import CPU time) and ``runs`` (number of runs with a profile).
    """
    with open(osp.join(work_dir, 'results.json')) as f:
        results = json.load(f)
    by_task: Dict[str, dict] = defaultdict(
        lambda: dict(runs=0, cpu_s=0.0, wall_s=0.0, stages_cpu_s=dict.fromkeys(STAGES, 0.0)))
    stages_cpu = dict.fromkeys(STAGES, 0.0)
    stages_wall = dict.fromkeys(STAGES, 0.0)
    count = 0
    for run in (Run.from_dict(r) for r in read_plan(work_dir)['runs']):
        status = read_status(run)
        if 'profile' not in status:
            continue
        count += 1
        entry = by_task[run.task]
        entry['runs'] += 1
        entry['cpu_s'] += status.get('cpu_time_s', 0.0)
        entry['wall_s'] += status.get('wall_time_s', 0.0)
        for call in status['profile']:
            for stage in STAGES:
                entry['stages_cpu_s'][stage] += call['cpu_s'][stage]
                stages_cpu[stage] += call['cpu_s'][stage]
                stages_wall[stage] += call['wall_s'][stage]
    workers = results.get('meta', {}).get('workers', [])
    return dict(by_task=dict(by_task), stages_cpu_s=stages_cpu, stages_wall_s=stages_wall,
                runs_cpu_s=sum(e['cpu_s'] for e in by_task.values()), runs=count,
                imports=[w.get('import_cpu_s') for w in workers if 'import_cpu_s' in w])


def time_benchmark(experiment: str, work_dir: str, repo_root: str, seeds: int = 3,
                   workers: Optional[int] = None, options: Optional[List[str]] = None,
                   python: str = sys.executable) -> dict:
    """Run ``tools/benchmark_transfer.py EXPERIMENT --profile`` once and measure it.

    Args:
        experiment (str): Experiment config.
        work_dir (str): A fresh work dir (an existing one would skip finished runs).
        repo_root (str): Repository root.
        seeds (int): ``--seeds``. Defaults to 3.
        workers (int, optional): ``--workers``. Defaults to None (the tool's default).
        options (list[str], optional): ``--options`` of the tool.
        python (str): Interpreter.

    Returns:
        dict: ``wall_s`` and ``cpu_s`` (user + sys of the benchmark and all its processes) of the
        whole run, ``load_before`` / ``load_after`` (1, 5, 15 minute load averages), ``cores``,
        ``process_start`` (:func:`process_start_cost`), ``breakdown``
        (:func:`profile_breakdown`), ``returncode``.
    """
    if osp.exists(osp.join(work_dir, 'results.json')):
        raise FileExistsError(f'{work_dir} holds a finished benchmark, whose runs would be '
                              'skipped; pass a new --work-dir.')
    cmd = [python, 'tools/benchmark_transfer.py', experiment, '--work-dir', work_dir,
           '--seeds', str(seeds), '--profile']
    if workers is not None:
        cmd += ['--workers', str(workers)]
    if options:
        cmd += ['--options', *options]
    env = dict(os.environ, PYTHONPATH=osp.abspath(repo_root) + os.pathsep +
               os.environ.get('PYTHONPATH', ''))
    load_before = os.getloadavg()
    cpu, wall = _children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=repo_root, env=env)
    out = dict(wall_s=time.perf_counter() - wall, cpu_s=_children_cpu() - cpu,
               load_before=load_before, load_after=os.getloadavg(), cores=os.cpu_count(),
               returncode=proc.returncode, command=' '.join(cmd))
    out['process_start'] = process_start_cost(python, repo_root)
    if proc.returncode == 0:
        out['breakdown'] = profile_breakdown(work_dir if osp.isabs(work_dir) else
                                             osp.join(repo_root, work_dir))
    return out


def format_timing(timing: dict) -> str:
    """A plain-text report of :func:`time_benchmark`."""
    load = ', '.join(f'{v:.2f}' for v in timing['load_before'])
    load_after = ', '.join(f'{v:.2f}' for v in timing['load_after'])
    lines = [
        f"whole run: wall {timing['wall_s']:.0f} s, CPU (user+sys, all processes) "
        f"{timing['cpu_s']:.0f} s on {timing['cores']} cores",
        f'load average before: {load}; after: {load_after} (wall time is inflated by other '
        'load; CPU time is not)',
    ]
    start = timing['process_start']
    lines.append(f"one fresh tool process (python + {IMPORTS.split(' ', 1)[1]}): "
                 f"CPU {start['cpu_s']:.1f} s, wall {start['wall_s']:.1f} s")
    breakdown = timing.get('breakdown')
    if breakdown:
        runs = breakdown['runs']
        lines.append(f"the runs ({runs}, train + test each, in process): CPU "
                     f"{breakdown['runs_cpu_s']:.0f} s; one process per tool call would add "
                     f"about {2 * runs * start['cpu_s']:.0f} s CPU of start-up")
        imports = breakdown['imports']
        if imports:
            lines.append(f'worker start-up imports: {len(imports)} x '
                         f'{sum(imports) / len(imports):.1f} s CPU')
        total = sum(breakdown['stages_cpu_s'].values()) or 1.0
        lines.append('CPU by stage (all runs): ' + ', '.join(
            f"{stage} {breakdown['stages_cpu_s'][stage]:.0f} s "
            f"({100 * breakdown['stages_cpu_s'][stage] / total:.0f}%)" for stage in STAGES))
        lines.append('| task | runs | CPU s | CPU s per run | ' + ' | '.join(STAGES) + ' |')
        lines.append('|---' * (4 + len(STAGES)) + '|')
        for task, entry in breakdown['by_task'].items():
            stages = ' | '.join(f"{entry['stages_cpu_s'][s]:.0f}" for s in STAGES)
            lines.append(f"| {task} | {entry['runs']} | {entry['cpu_s']:.0f} | "
                         f"{entry['cpu_s'] / max(entry['runs'], 1):.1f} | {stages} |")
        other = timing['cpu_s'] - breakdown['runs_cpu_s'] - sum(imports)
        lines.append(f'outside the runs (toy data, conversion, report, plots, process starts): '
                     f'CPU {other:.0f} s')
    return '\n'.join(lines)
