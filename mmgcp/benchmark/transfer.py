# Copyright (c) mmgcp contributors. All rights reserved.
"""The cross-task transfer benchmark: pretrain -> convert -> fine-tune -> evaluate -> report."""
import json
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Optional

from mmengine.config import Config

from .experiment import Run, expand_runs
from .report import plot_results, write_results
from .runner import ToolLauncher, execute_run, extract_backbone, read_status, write_status
from .settings import attach_settings, check_settings


class Progress:
    """A one-line progress display: runs done / total and the current run's stage."""

    def __init__(self, total: int, stream=sys.stderr, width: int = 24):
        self.total, self.done, self.stream, self.width = total, 0, stream, width
        self.start = time.time()

    def show(self, run: Optional[Run], stage: str) -> None:
        filled = int(self.width * self.done / max(self.total, 1))
        bar = '#' * filled + '.' * (self.width - filled)
        current = f'{run.name}: {stage}' if run is not None else stage
        elapsed = time.time() - self.start
        self.stream.write(f'[{bar}] {self.done}/{self.total} runs | {elapsed:6.0f}s | '
                          f'{current}\n')
        self.stream.flush()


def check_toy_data(toy_data: Optional[dict]) -> None:
    """Refuse, before anything is generated or trained, toy sets under ``toy_data['out_dir']``
    that were made with other settings than the experiment's (e.g. by an older mmgcp): the
    benchmark would otherwise train on them or stop half-way.

    Raises:
        FileExistsError: Naming each such set, what it has and how to go on.
    """
    if not toy_data:
        return
    from mmgcp.datasets.toy.writer import GENERATORS, other_settings, toy_set_record
    root = toy_data.get('out_dir', 'data/toy')
    stale = {}
    for name in GENERATORS:
        record = toy_set_record(name, dict(toy_data.get(name) or {}))
        reason = other_settings(osp.join(root, name), record)
        if reason is not None:
            stale[osp.join(root, name)] = (f"{reason}; this experiment's: "
                                           f"{json.dumps(record['params'])}")
    if stale:
        raise FileExistsError(
            'toy sets made with other settings than this experiment asks for:\n' +
            ''.join(f'  {path} {why}\n' for path, why in stale.items()) +
            f"They are generated data: delete them (rm -rf {' '.join(stale)}) and run again, or "
            'keep them and let the experiment write its own sets elsewhere (--options '
            'toy_data.out_dir=DIR).')


def prepare_toy_data(toy_data: dict, tools: ToolLauncher) -> None:
    """Generate the toy sets with ``tools/dataset_converters/make_toy_data.py`` (which skips sets
    that are already complete with the same settings)."""
    root = toy_data['out_dir']
    for name in ('cls', 'coco', 'ade20k'):
        args = []
        for key, value in (toy_data.get(name) or {}).items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        log = osp.join(root, f'make_toy_data_{name}.log')
        result = tools.call([tools.python, 'tools/dataset_converters/make_toy_data.py', name,
                             '--out-dir', root, *args], log)
        if result['returncode'] != 0:
            with open(log) as f:
                raise RuntimeError(f'generating the toy {name} set failed:\n{f.read()[-2000:]}')


def _pretrained_for(run: Run, exp: Config, work_dir: str, tools: ToolLauncher,
                    statuses: Dict[str, dict]) -> str:
    """Path of the trunk (or, for evaluate-only runs, the whole classifier) a run starts from."""
    variant_dir = osp.join(work_dir, 'runs', f'seed{run.seed}', run.variant)
    if exp.get('pretrain', False):
        pre = statuses.get(f'{run.variant}/pretrain/seed{run.seed}', {})
        if pre.get('state') != 'done':
            raise RuntimeError(f'pretraining of {run.variant} (seed {run.seed}) did not finish: '
                               f"{pre.get('error', pre.get('state', 'not run'))[-300:]}")
        source = pre['checkpoint']
    else:
        source = exp.variants[run.variant].checkpoint
        if not osp.isfile(source):
            raise FileNotFoundError(
                f'pretrained checkpoint {source} of variant {run.variant} does not exist; '
                'download the published checkpoint and set variants.'
                f'{run.variant}.checkpoint (see README, "Converting published checkpoints").')
    os.makedirs(variant_dir, exist_ok=True)
    full = osp.join(variant_dir, 'pretrained_mmpretrain.pth')
    if not osp.isfile(full):
        convert_checkpoint(source, full, tools)
    if run.evaluate_only:
        return full
    trunk = osp.join(variant_dir, 'pretrained_backbone.pth')
    if not osp.isfile(trunk):
        extract_backbone(full, trunk)
    return trunk


def convert_checkpoint(source: str, dst: str, tools: ToolLauncher) -> str:
    """mmpretrain-format checkpoints are linked as they are; published formats go through
    ``tools/model_converters/gcp2mmpretrain.py``."""
    import torch
    ckpt = torch.load(source, map_location='cpu', weights_only=False)
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else {}
    if any(k.startswith('backbone.') for k in state):
        os.symlink(osp.abspath(source), dst)
        return dst
    result = tools.call([tools.python, 'tools/model_converters/gcp2mmpretrain.py', source, dst],
                        dst + '.log')
    if result['returncode'] != 0:
        raise RuntimeError(f'converting {source} failed: see {dst}.log')
    return dst


def _ready(run: Run, runs: List[Run], statuses: Dict[str, dict], exp: Config) -> bool:
    """A fine-tuning run waits for its pretraining (same variant and seed) to end."""
    if run.task == 'pretrain' or run.from_scratch or not exp.get('pretrain', False):
        return True
    pre = f'{run.variant}/pretrain/seed{run.seed}'
    return pre in statuses or all(r.name != pre for r in runs)


def _worker_init(num_threads: int) -> None:
    """Start of a worker process: torch threads, then the libraries' models imported once."""
    import torch
    torch.set_num_threads(num_threads)
    start = time.process_time()
    import mmdet.models  # noqa: F401
    import mmpretrain.models  # noqa: F401
    import mmseg.models  # noqa: F401
    _WORKER['import_cpu_s'] = time.process_time() - start
    _WORKER['pid'] = os.getpid()


_WORKER: Dict[str, float] = {}


def _worker_execute(run: Run, tools: ToolLauncher, pretrained: Optional[str]) -> dict:
    """Execute one run in a worker process and add its CPU time (and profile) to its status."""
    status = execute_run(run, tools, pretrained)
    calls = tools.pop_calls() if hasattr(tools, 'pop_calls') else []
    if calls:
        status['cpu_time_s'] = round(sum(c.get('cpu_time_s', 0.0) for c in calls), 2)
        profiles = [dict(tool=c['cmd'][0], **c['stages']) for c in calls if 'stages' in c]
        if profiles:
            status['profile'] = profiles
        write_status(run, status)
    worker = dict(_WORKER) or dict(pid=os.getpid())
    _WORKER.pop('import_cpu_s', None)  # reported with the worker's first run only
    return dict(status=status, worker=worker)


def run_benchmark(exp: Config, work_dir: str, seeds: List[int], tools: ToolLauncher,
                  retry_failed: bool = True, workers: int = 0, profile: bool = False) -> dict:
    """Run (or resume) every run of an experiment and write the report.

    Args:
        exp (Config): Experiment config from :func:`load_experiment`.
        work_dir (str): Output folder.
        seeds (list[int]): Seeds to run.
        tools (ToolLauncher): How runs are launched when ``workers`` is 0, and how the toy data
            and conversions are made.
        retry_failed (bool): Run failed runs again (finished ones are always skipped).
        workers (int): 0: one run after the other through ``tools`` (one process per tool call
            for a plain :class:`ToolLauncher`). N >= 1: N worker processes that each run
            ``tools/train.py`` and ``tools/test.py`` in process
            (:class:`~mmgcp.benchmark.inprocess.InProcessLauncher`), with
            ``cpu_count // N`` torch threads each; a fine-tuning run starts once its pretraining
            finished. Defaults to 0.
        profile (bool): Record the CPU / wall time of every run's stages in its status
            (``workers >= 1``). Defaults to False.

    Returns:
        dict: Paths of the written files, the Markdown tables, the summary and comparisons.
    """
    os.makedirs(work_dir, exist_ok=True)
    runs = expand_runs(exp, work_dir, seeds)
    attach_settings(runs, tools.repo_root)
    check_settings(runs, work_dir)  # a run made with other settings is not reused
    if exp.get('toy_data'):
        from .inprocess import InProcessLauncher
        prepare_toy_data(exp.toy_data,
                         InProcessLauncher(tools.repo_root) if workers >= 1 else tools)
    from .runner import check_runs_data
    check_runs_data(runs)  # one clear error before any work when data is missing
    progress = Progress(len(runs))
    statuses: Dict[str, dict] = {}
    meta = dict(preset=exp.get('preset'), seeds=seeds,
                variants={k: dict(v) for k, v in exp.variants.items()})
    pending = []
    for run in runs:
        status = read_status(run)
        if status.get('state') == 'done' or (status.get('state') == 'failed' and not retry_failed):
            progress.done += 1
            progress.show(run, f"skipped ({status['state']} before)")
            statuses[run.name] = status
        else:
            pending.append(run)
    # Pretraining first: it unblocks the fine-tuning runs (stable sort keeps the seed order).
    pending.sort(key=lambda r: r.task != 'pretrain')

    def prepare(run: Run):
        """The run's starting weights, or its failed status when they cannot be made."""
        if run.task == 'pretrain' or run.from_scratch:
            return None, None
        try:
            return _pretrained_for(run, exp, work_dir, tools, statuses), None
        except (RuntimeError, FileNotFoundError, KeyError) as err:
            status = dict(state='failed', stage='convert', error=str(err))
            write_status(run, status)
            return None, status

    def finish(run: Run, status: dict) -> None:
        statuses[run.name] = status
        progress.done += 1
        progress.show(run, status['state'])
        write_results(work_dir, runs, [statuses.get(r.name, {}) for r in runs], meta=meta)

    worker_info: Dict[int, dict] = {}
    if workers < 1:
        for run in pending:
            progress.show(run, 'start')
            pretrained, failed = prepare(run)
            status = failed or execute_run(
                run, tools, pretrained, on_stage=lambda stage, run=run: progress.show(run, stage))
            finish(run, status)
    else:
        worker_info = _run_pool(pending, runs, statuses, exp, workers, profile, prepare, finish,
                                progress, tools.repo_root)
    if worker_info:
        meta['workers'] = list(worker_info.values())
    out = write_results(work_dir, runs, [statuses[r.name] for r in runs], meta=meta)
    scratch = next((n for n, v in exp.variants.items() if v.get('from_scratch')), None)
    out['plots'] = plot_results(work_dir, runs, out['summary'], scratch)
    if exp.get('robustness'):  # optional stage: every finished run under corrupted inputs
        from mmgcp.robustness.stage import run_robustness_stage
        progress.show(None, 'robustness under corruptions')
        out['robustness'] = run_robustness_stage(exp, runs, statuses, tools, work_dir)
    return out


def _run_pool(pending: List[Run], runs: List[Run], statuses: Dict[str, dict], exp: Config,
              workers: int, profile: bool, prepare, finish, progress: Progress,
              repo_root: str) -> Dict[int, dict]:
    """Execute ``pending`` on a pool of ``workers`` in-process worker processes."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    from .inprocess import InProcessLauncher

    threads = max(1, (os.cpu_count() or 1) // workers)
    # Children read these when torch starts; set_num_threads in _worker_init makes sure.
    for key in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
        os.environ[key] = str(threads)
    launcher = InProcessLauncher(repo_root, profile=profile)
    context = multiprocessing.get_context('spawn')

    def new_pool():
        return ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init,
                                   initargs=(threads, ))

    pool = new_pool()
    running: Dict[object, Run] = {}
    worker_info: Dict[int, dict] = {}
    waiting = list(pending)
    try:
        while waiting or running:
            for run in [r for r in waiting if _ready(r, runs, statuses, exp)]:
                if len(running) >= workers:
                    break
                waiting.remove(run)
                pretrained, failed = prepare(run)
                if failed is not None:
                    finish(run, failed)
                    continue
                progress.show(run, 'start')
                running[pool.submit(_worker_execute, run, launcher, pretrained)] = run
            if not running:
                if waiting:  # nothing can start: their pretraining is neither done nor pending
                    for run in waiting:
                        finish(run, dict(state='failed', stage='schedule',
                                         error='its pretraining run did not run'))
                break
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            broken = False
            for future in done:
                run = running.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool as err:
                    broken = True
                    status = dict(state='failed', stage='worker',
                                  error=f'the worker process running it died ({err}); '
                                  'run the benchmark again to retry it')
                    write_status(run, status)
                else:
                    status = result['status']
                    info = result['worker']
                    worker_info.setdefault(info['pid'], {}).update(info)
                finish(run, status)
            if broken:
                pool.shutdown(wait=False, cancel_futures=True)
                pool = new_pool()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return worker_info
