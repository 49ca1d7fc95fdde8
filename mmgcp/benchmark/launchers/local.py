# Copyright (c) mmgcp contributors. All rights reserved.
"""Launchers that execute runs on this machine and return when they have ended.

- :class:`SequentialLauncher`: one run after the other, each tool call a process:
  ``python tools/train.py`` (``--launcher none --workers 0``) or ``tools/dist_train.sh`` with the
  run's world size (``--launcher pytorch``).
- :class:`WorkerPoolLauncher`: ``--launcher none`` with N worker processes that execute the tool
  scripts in process (the imports are paid once per worker); a fine-tuning run starts once the
  run it depends on is done.

Stopping the benchmark (SIGTERM, SIGINT, SIGHUP; a supervisor, a shell, a scheduler) stops
the runs it is executing: their training saves a checkpoint (SIGTERM to the tool, see
:class:`~mmgcp.engine.SignalCheckpointHook`), the worker processes end, and the next invocation
resumes them. Tool processes and workers also die with the benchmark when it is killed outright
(the kernel sends them SIGKILL when their parent dies), so nothing is left running.
"""
import ctypes
import multiprocessing
import os
import signal
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Dict, List, Optional

from ..execute import INTERRUPTED, execute_run
from ..experiment import Run
from ..inprocess import InProcessToolCalls
from ..status import read_status, write_status
from ..toolcalls import ToolCalls
from .base import Events, Launcher

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux; a no-op elsewhere)."""
    if not sys.platform.startswith('linux'):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


class BenchmarkInterrupted(Exception):
    """The benchmark process received a stop signal."""

    def __init__(self, signum: int):
        super().__init__(f'stopped by {signal.Signals(signum).name}')
        self.signum = signum


class stop_signals:
    """Within the block, SIGTERM and SIGHUP raise :class:`BenchmarkInterrupted` in the main
    thread (SIGINT raises KeyboardInterrupt as usual), so the launcher stops its runs on the way
    out; the previous handlers come back afterwards."""

    SIGNALS = (signal.SIGTERM, signal.SIGHUP)

    def __enter__(self):
        def interrupt(signum, frame):
            raise BenchmarkInterrupted(signum)
        self.previous = {s: signal.signal(s, interrupt) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)


def _ready(run: Run, statuses: Dict[str, dict]) -> Optional[bool]:
    """True when every run ``run`` depends on is done, False while one may still be, None when
    one ended without being done."""
    for name in run.depends_on:
        state = statuses.get(name, {}).get('state')
        if state is None:
            return False
        if state != 'done':
            return None
    return True


def _blocked_status(run: Run, statuses: Dict[str, dict]) -> dict:
    names = [n for n in run.depends_on if statuses.get(n, {}).get('state') != 'done']
    return dict(state='failed', stage='schedule',
                error=f"{', '.join(names)} did not finish: it is what this run starts from; "
                'fix it, then run the benchmark again')


class SequentialLauncher(Launcher):
    """One run after the other, each tool call a process (``none``) or ``torchrun`` with the
    run's world size (``pytorch``).

    Args:
        repo_root (str): Repository root.
        launcher (str): ``'none'`` or ``'pytorch'``.
        python (str): Interpreter. Defaults to this one.
    """
    blocking = True

    def __init__(self, repo_root: str, launcher: str = 'none', python: str = sys.executable):
        self.name = launcher
        self.tools = ToolCalls(repo_root, launcher, python)

    def commands(self, run: Run) -> Dict[str, List[str]]:
        from ..execute import run_options
        options = ['--cfg-options', *run_options(run)]
        train = [] if run.evaluate_only else self.tools.train_cmd(run, options)
        checkpoint = run.pretrained if run.evaluate_only else '<last checkpoint of the run>'
        test = self.tools.test_cmd(run, checkpoint, ['--out', f'{run.work_dir}/test_metrics.json',
                                                     *options])
        return dict(train_command=train, test_command=test)

    def launch(self, runs: List[Run], events: Optional[Events] = None,
               all_runs: Optional[List[Run]] = None) -> None:
        events = events or Events()
        statuses = {run.name: read_status(run) for run in runs}
        statuses = {k: v for k, v in statuses.items() if v.get('state') == 'done'}
        with stop_signals():
            for run in runs:
                ready = _ready(run, {**statuses, **_done_outside(run, runs)})
                if not ready:
                    status = _blocked_status(run, statuses)
                    write_status(run, status)
                else:
                    events.started(run)
                    status = execute_run(run, self.tools,
                                         on_stage=lambda stage, run=run: events.stage(run, stage))
                statuses[run.name] = status
                events.finished(run, status)


def _done_outside(run: Run, runs: List[Run]) -> Dict[str, dict]:
    """Dependencies of ``run`` that are not among ``runs`` (done in an earlier invocation)."""
    pending = {r.name for r in runs}
    return {name: dict(state='done') for name in run.depends_on if name not in pending}


# In-process workers ------------------------------------------------------------------------------
_WORKER: Dict[str, float] = {}


def _worker_init(num_threads: int) -> None:
    """Start of a worker process: die with the benchmark, set torch threads, import the
    libraries' models once."""
    die_with_parent()
    # Stopping is the benchmark's: it SIGTERMs the workers, and training saves a checkpoint on
    # it (SignalCheckpointHook installs its handler while training); anything else a worker is
    # doing finishes within the grace period or is SIGKILLed.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    import torch
    torch.set_num_threads(num_threads)
    start = time.process_time()
    import mmdet.models  # noqa: F401
    import mmpretrain.models  # noqa: F401
    import mmseg.models  # noqa: F401
    _WORKER['import_cpu_s'] = time.process_time() - start
    _WORKER['pid'] = os.getpid()


def _worker_execute(run: Run, tools: InProcessToolCalls) -> dict:
    """Execute one run in a worker process and add its CPU time (and profile) to its status."""
    status = execute_run(run, tools)
    calls = tools.pop_calls()
    if calls and status.get('state') != INTERRUPTED:
        status['cpu_time_s'] = round(sum(c.get('cpu_time_s', 0.0) for c in calls), 2)
        profiles = [dict(tool=c['cmd'][0], **c['stages']) for c in calls if 'stages' in c]
        if profiles:
            status['profile'] = profiles
        write_status(run, status)
    worker = dict(_WORKER) or dict(pid=os.getpid())
    _WORKER.pop('import_cpu_s', None)  # reported with the worker's first run only
    return dict(status=status, worker=worker)


class WorkerPoolLauncher(Launcher):
    """``--launcher none`` with ``workers`` processes that run the tools in process, each with
    ``cpu_count // workers`` torch threads.

    Args:
        repo_root (str): Repository root.
        workers (int): Worker processes (runs executed at once).
        profile (bool): Record the CPU / wall time of every run's stages in its status.
    """
    name = 'none'
    blocking = True

    def __init__(self, repo_root: str, workers: int, profile: bool = False):
        if workers < 1:
            raise ValueError(f'workers must be >= 1, got {workers}.')
        self.repo_root = repo_root
        self.workers = workers
        self.tools = InProcessToolCalls(repo_root, 'none', profile=profile)
        self.worker_info: Dict[int, dict] = {}
        #: Seconds a stopped worker gets to save its run's checkpoint before it is killed.
        self.grace_s = 30.0

    def commands(self, run: Run) -> Dict[str, List[str]]:
        return SequentialLauncher(self.repo_root).commands(run)

    def launch(self, runs: List[Run], events: Optional[Events] = None,
               all_runs: Optional[List[Run]] = None) -> None:
        events = events or Events()
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        for key in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'):  # read when torch starts
            os.environ[key] = str(threads)
        context = multiprocessing.get_context('spawn')

        def new_pool():
            return ProcessPoolExecutor(self.workers, mp_context=context,
                                       initializer=_worker_init, initargs=(threads, ))

        statuses = {run.name: read_status(run) for run in runs}
        statuses = {k: v for k, v in statuses.items() if v.get('state') == 'done'}
        pool = new_pool()
        running: Dict[object, Run] = {}
        waiting = list(runs)
        with stop_signals():
            try:
                while waiting or running:
                    for run in list(waiting):
                        if len(running) >= self.workers:
                            break
                        ready = _ready(run, {**statuses, **_done_outside(run, runs)})
                        if ready is False:
                            continue
                        waiting.remove(run)
                        if ready is None:
                            status = _blocked_status(run, statuses)
                            write_status(run, status)
                            statuses[run.name] = status
                            events.finished(run, status)
                            continue
                        events.started(run)
                        running[pool.submit(_worker_execute, run, self.tools)] = run
                    if not running:
                        for run in waiting:  # their dependencies are neither done nor pending
                            status = _blocked_status(run, statuses)
                            write_status(run, status)
                            events.finished(run, status)
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
                            self.worker_info.setdefault(info['pid'], {}).update(info)
                        statuses[run.name] = status
                        events.finished(run, status)
                    if broken:
                        pool.shutdown(wait=False, cancel_futures=True)
                        pool = new_pool()
            except BaseException:
                self._stop_workers(pool, list(running))
                raise
            finally:
                pool.shutdown(wait=True, cancel_futures=True)

    def _stop_workers(self, pool: ProcessPoolExecutor, running: list) -> None:
        """SIGTERM every worker (a run that is training saves a checkpoint and returns; one that
        is not ends at once), wait up to :attr:`grace_s` for the runs, then SIGKILL the workers:
        none outlives the benchmark."""
        processes = list((getattr(pool, '_processes', None) or {}).values())
        for proc in processes:
            if proc.is_alive():
                try:
                    os.kill(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        if running:
            wait(running, timeout=self.grace_s)
        for proc in processes:
            if proc.is_alive():
                proc.kill()
            proc.join(5)
