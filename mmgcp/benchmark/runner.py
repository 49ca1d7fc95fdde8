# Copyright (c) mmgcp contributors. All rights reserved.
"""Execute benchmark runs through ``tools/train.py`` / ``tools/test.py``, resumably."""
import json
import os
import os.path as osp
import subprocess
import sys
import threading
import time
from typing import Callable, Dict, List, Optional

import torch

from mmgcp.utils import check_data, find_resumable_checkpoint, log_tail

from .experiment import Run
from .plan import run_config

STATUS_FILE = 'status.json'


def read_status(run: Run) -> dict:
    """The run's status dict (``{'state': 'done' | 'failed' | 'running', ...}``), or {}."""
    path = osp.join(run.work_dir, STATUS_FILE)
    if not osp.isfile(path):
        return {}
    with open(path) as f:
        return json.load(f)


def write_status(run: Run, status: dict) -> None:
    """Write the run's status atomically, with the run's settings when they are attached."""
    if run.settings is not None:
        status = dict(status, settings=run.settings)
    os.makedirs(run.work_dir, exist_ok=True)
    tmp = osp.join(run.work_dir, STATUS_FILE + '.tmp')
    with open(tmp, 'w') as f:
        json.dump(status, f, indent=2)
    os.replace(tmp, osp.join(run.work_dir, STATUS_FILE))


class _PeakRSS:
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


class ToolLauncher:
    """Runs ``tools/train.py`` and ``tools/test.py`` as the user would, one process per run.

    Args:
        repo_root (str): Repository root (where ``tools/`` is).
        launcher (str): ``'none'`` (one process), ``'pytorch'`` (``tools/dist_train.sh`` with
            ``gpus`` processes through torchrun) or ``'slurm'`` (``tools/slurm_train.sh``).
        gpus (int): Processes per run for the distributed launchers. Defaults to 1.
        slurm_partition (str, optional): Partition for ``'slurm'``.
        python (str): Interpreter. Defaults to the current one.
    """

    def __init__(self, repo_root: str, launcher: str = 'none', gpus: int = 1,
                 slurm_partition: Optional[str] = None, python: str = sys.executable):
        if launcher not in ('none', 'pytorch', 'slurm'):
            raise ValueError(f"launcher must be 'none', 'pytorch' or 'slurm', got {launcher!r}.")
        if launcher == 'slurm' and not slurm_partition:
            raise ValueError("launcher 'slurm' needs --slurm-partition.")
        self.repo_root = repo_root
        self.launcher = launcher
        self.gpus = gpus
        self.slurm_partition = slurm_partition
        self.python = python

    def _env(self) -> dict:
        env = dict(os.environ)
        env['PYTHONPATH'] = self.repo_root + os.pathsep + env.get('PYTHONPATH', '')
        # dist_train.sh calls `python`: make it this interpreter.
        env['PATH'] = osp.dirname(self.python) + os.pathsep + env.get('PATH', '')
        return env

    def train_cmd(self, config: str, work_dir: str, args: List[str]) -> List[str]:
        if self.launcher == 'pytorch':
            return ['bash', 'tools/dist_train.sh', config, str(self.gpus), '--work-dir', work_dir,
                    *args]
        if self.launcher == 'slurm':
            return ['bash', 'tools/slurm_train.sh', self.slurm_partition, 'mmgcp-bench', config,
                    work_dir, *args]
        return [self.python, 'tools/train.py', config, '--work-dir', work_dir, *args]

    def test_cmd(self, config: str, checkpoint: str, work_dir: str, args: List[str]) -> List[str]:
        return [self.python, 'tools/test.py', config, checkpoint, '--work-dir', work_dir, *args]

    def call(self, cmd: List[str], log_path: str) -> Dict:
        """Run a command, tee its output to ``log_path``; returns rc, wall time and peak RSS."""
        os.makedirs(osp.dirname(log_path), exist_ok=True)
        start = time.time()
        with open(log_path, 'a') as log:
            log.write(f'\n$ {" ".join(cmd)}\n')
            log.flush()
            proc = subprocess.Popen(cmd, cwd=self.repo_root, env=self._env(), stdout=log,
                                    stderr=subprocess.STDOUT)
            meter = _PeakRSS(proc.pid)
            try:
                rc = proc.wait()
            except BaseException:
                proc.terminate()
                proc.wait()
                raise
            finally:
                peak = meter.stop()
        return dict(returncode=rc, wall_time_s=time.time() - start, peak_rss_mb=peak)


def last_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint mmengine's ``last_checkpoint`` file points at, if it exists."""
    marker = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(marker):
        return None
    with open(marker) as f:
        path = f.read().strip()
    return path if osp.isfile(path) else None


def check_runs_data(runs: List[Run]) -> None:
    """Raise one :class:`~mmgcp.utils.DataNotFoundError` before any run starts when the data of
    a run is missing (see :func:`mmgcp.utils.check_data`)."""
    checked = set()
    for run in runs:
        key = (run.config, tuple(run.cfg_options), run.evaluate_only)
        if key in checked:
            continue
        checked.add(key)
        check_data(run_config(run), ('test', ) if run.evaluate_only else ('train', 'val', 'test'),
                   config=f'{run.config} (run {run.name})')


def extract_backbone(checkpoint: str, out_path: str) -> str:
    """Write the ``backbone.*`` weights of an mmpretrain checkpoint (prefix kept), atomically."""
    ckpt = torch.load(checkpoint, map_location='cpu', weights_only=False)
    state = ckpt.get('state_dict', ckpt)
    backbone = {k: v for k, v in state.items() if k.startswith('backbone.')}
    if not backbone:
        raise KeyError(f'{checkpoint} has no backbone.* weights (first keys: '
                       f'{list(state)[:5]}); convert it with tools/model_converters/ first.')
    tmp = out_path + '.tmp'
    torch.save(dict(state_dict=backbone, meta=dict(source=osp.abspath(checkpoint))), tmp)
    os.replace(tmp, out_path)
    return out_path


def execute_run(run: Run, tools: ToolLauncher, pretrained: Optional[str],
                on_stage: Callable[[str], None] = lambda stage: None) -> dict:
    """Train (or resume) a run, then evaluate its last checkpoint with ``tools/test.py``.

    A finished run (status ``done``) is returned as is. A failure is recorded in the status with
    the end of its log instead of raised, so other runs go on.

    Args:
        run (Run): The run.
        tools (ToolLauncher): How to call the tools.
        pretrained (str, optional): Pretrained trunk for fine-tuning runs.
        on_stage (callable): Called with the stage name (for progress display).

    Returns:
        dict: The final status: state, metrics, wall time, peak memory, error.
    """
    status = read_status(run)
    if status.get('state') == 'done':
        return status
    log_path = osp.join(run.work_dir, 'run.log')
    options = list(run.cfg_options)
    if pretrained is not None and run.checkpoint_option and not run.evaluate_only:
        options.append(f'{run.checkpoint_option}={pretrained}')
    # The newest complete checkpoint, marker or not (a kill can land between the two writes).
    resumed = not run.evaluate_only and find_resumable_checkpoint(run.work_dir) is not None
    status = dict(state='running', variant=run.variant, task=run.task, seed=run.seed,
                  config=run.config, resumed=resumed, started=time.time())
    write_status(run, status)

    wall, peak = 0.0, 0.0
    if run.evaluate_only:
        checkpoint = pretrained
    else:
        on_stage('resume training' if resumed else 'train')
        train_args = (['--resume'] if resumed else []) + ['--cfg-options', *options]
        result = tools.call(tools.train_cmd(run.config, run.work_dir, train_args), log_path)
        wall, peak = result['wall_time_s'], result['peak_rss_mb']
        if result['returncode'] != 0:
            status.update(state='failed', stage='train', wall_time_s=wall, peak_rss_mb=peak,
                          error=log_tail(log_path))
            write_status(run, status)
            return status
        checkpoint = find_resumable_checkpoint(run.work_dir)

    on_stage('evaluate')
    metrics_path = osp.join(run.work_dir, 'test_metrics.json')
    result = tools.call(
        tools.test_cmd(run.config, checkpoint or 'missing-checkpoint', run.work_dir,
                       ['--out', metrics_path, '--cfg-options', *options]), log_path)
    wall += result['wall_time_s']
    peak = max(peak, result['peak_rss_mb'])
    if result['returncode'] != 0 or not osp.isfile(metrics_path):
        status.update(state='failed', stage='evaluate', wall_time_s=wall, peak_rss_mb=peak,
                      error=log_tail(log_path))
        write_status(run, status)
        return status
    with open(metrics_path) as f:
        metrics = json.load(f)
    status.update(state='done', checkpoint=checkpoint, metrics=metrics, wall_time_s=wall,
                  peak_rss_mb=peak, finished=time.time())
    write_status(run, status)
    return status
