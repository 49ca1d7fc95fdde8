# Copyright (c) mmgcp contributors. All rights reserved.
"""How a run's tool calls (``tools/train.py``, ``tools/test.py``, ``tools/analysis/*.py``) are
executed: as processes (one per call, or ``tools/dist_train.sh`` with the run's world size), or
inside the current process (:mod:`mmgcp.benchmark.inprocess`; a benchmark worker, or one task of
a Slurm job). Every form runs the same scripts with the same arguments a user would type.
"""
import os
import os.path as osp
import signal
import subprocess
import sys
import threading
import time
from typing import Dict, List

from .experiment import Run


class PeakRSS:
    """Polls the resident memory of a process tree (the run and its dataloader/DDP workers)."""

    def __init__(self, pid: int, interval: float = 0.5):
        import psutil
        self._proc = psutil.Process(pid)
        self._interval = interval
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self):
        import psutil
        while not self._stop.is_set():
            try:
                procs = [self._proc] + self._proc.children(recursive=True)
                rss = sum(p.memory_info().rss for p in procs if p.is_running())
                self.peak_mb = max(self.peak_mb, rss / 2**20)
            except psutil.Error:
                pass
            self._stop.wait(self._interval)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_mb


class ToolCalls:
    """Executes a run's tool calls as processes, the way a user would type them.

    Args:
        repo_root (str): Repository root (where ``tools/`` is); calls run there.
        launcher (str): ``'none'`` (``python tools/train.py``) or ``'pytorch'``
            (``tools/dist_train.sh`` / ``dist_test.sh`` with the run's world size).
            Defaults to ``'none'``.
        python (str): Interpreter. Defaults to this one.
    """

    def __init__(self, repo_root: str, launcher: str = 'none', python: str = sys.executable):
        if launcher not in ('none', 'pytorch'):
            raise ValueError(f"ToolCalls runs launcher 'none' or 'pytorch', got {launcher!r}.")
        self.repo_root = repo_root
        self.launcher = launcher
        self.python = python

    # commands --------------------------------------------------------------------------------
    def train_cmd(self, run: Run, args: List[str]) -> List[str]:
        """The command that trains ``run`` (``args``: ``--resume``, ``--cfg-options ...``)."""
        if self.launcher == 'pytorch':
            return ['bash', 'tools/dist_train.sh', run.config, str(_world(run)), '--work-dir',
                    run.work_dir, *args]
        return [self.python, 'tools/train.py', run.config, '--work-dir', run.work_dir, *args]

    def test_cmd(self, run: Run, checkpoint: str, args: List[str]) -> List[str]:
        """The command that evaluates ``checkpoint`` with ``run``'s config, on as many processes
        as the run trains on."""
        if self.launcher == 'pytorch':
            return ['bash', 'tools/dist_test.sh', run.config, checkpoint, str(_world(run)),
                    '--work-dir', run.work_dir, *args]
        return [self.python, 'tools/test.py', run.config, checkpoint, '--work-dir', run.work_dir,
                *args]

    def script_cmd(self, script: str, args: List[str]) -> List[str]:
        """A single-process tool call (``tools/analysis/robustness.py ...``)."""
        return [self.python, script, *args]

    # execution -------------------------------------------------------------------------------
    def train(self, run: Run, args: List[str], log_path: str) -> Dict:
        return self.call(self.train_cmd(run, args), log_path)

    def test(self, run: Run, checkpoint: str, args: List[str], log_path: str) -> Dict:
        return self.call(self.test_cmd(run, checkpoint, args), log_path)

    def script(self, script: str, args: List[str], log_path: str) -> Dict:
        return self.call(self.script_cmd(script, args), log_path)

    def _env(self) -> dict:
        env = dict(os.environ)
        env['PYTHONPATH'] = self.repo_root + os.pathsep + env.get('PYTHONPATH', '')
        # dist_train.sh calls `python`: make it this interpreter.
        env['PATH'] = osp.dirname(self.python) + os.pathsep + env.get('PATH', '')
        return env

    def call(self, cmd: List[str], log_path: str) -> Dict:
        """Run a command in its own process group, its output appended to ``log_path``;
        returns rc, wall time and peak RSS. Whatever stops this call (a signal, an exception)
        stops the whole group first: no orphaned tool or torchrun worker is left behind."""
        os.makedirs(osp.dirname(osp.abspath(log_path)), exist_ok=True)
        start = time.time()
        with open(log_path, 'a') as log:
            log.write(f'\n$ {" ".join(cmd)}\n')
            log.flush()
            proc = subprocess.Popen(cmd, cwd=self.repo_root, env=self._env(), stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            meter = PeakRSS(proc.pid)
            try:
                rc = proc.wait()
            except BaseException:
                stop_process_group(proc)
                raise
            finally:
                peak = meter.stop()
        return dict(returncode=rc, wall_time_s=time.time() - start, peak_rss_mb=peak)


def stop_process_group(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGTERM the process group of ``proc`` (training saves a checkpoint on it), then SIGKILL
    what is left after ``grace_s`` seconds."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _world(run: Run) -> int:
    return run.recipe.gpus if run.recipe is not None else 1
