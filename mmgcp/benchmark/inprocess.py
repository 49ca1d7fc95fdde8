# Copyright (c) mmgcp contributors. All rights reserved.
"""Run ``tools/train.py`` and ``tools/test.py`` inside the current process.

A toy run trains for seconds; starting a fresh interpreter and importing torch, mmengine, mmcv,
mmdet, mmseg and mmpretrain for every train and every test costs about as much again. The
:class:`InProcessToolCalls` execute the very same scripts with :mod:`runpy` (``sys.argv`` set to
the command line :class:`~mmgcp.benchmark.toolcalls.ToolCalls` would run), so a run is built
exactly as the tool builds it -- same config merge, same hooks, same Runner -- while the imports
are paid once per process, and so is yapf's formatting of each distinct config text
(:func:`memoize_config_formatting`). The tool's output goes to the run's log; the mmengine
singletons a run creates (logger, message hub, visualizer, default scope) are released after it,
so runs do not share state through them.
"""
import os
import os.path as osp
import runpy
import sys
import time
import traceback
from contextlib import redirect_stderr, redirect_stdout
from typing import Dict, List, Optional

from .experiment import Run
from .toolcalls import PeakRSS, ToolCalls

#: Profile stages of one tool call, in display order.
STAGES = ('setup', 'train_data', 'train_step', 'val', 'test', 'other')


def _clock() -> tuple:
    return time.process_time(), time.perf_counter()


class StageTimer:
    """CPU and wall time of one tool call, split by what the Runner is doing.

    Driven by the Runner's hook calls (see :func:`profile_runner_hooks`): ``setup`` until
    training or testing starts (config, datasets, model, weight init, checkpoint loading),
    ``train_data`` waiting for the next training batch, ``train_step`` forward, backward and
    optimizer step, ``val`` / ``test`` the evaluation loops (their data loading included) and
    ``other`` the remaining hooks (logging, checkpoint saving) and teardown.
    """

    #: Hook event (``'<name>:start'`` before the hooks run, ``':end'`` after) -> next stage.
    TRANSITIONS = {
        'before_train:start': 'other',
        'before_train_epoch:end': 'train_data',
        'before_train_iter:end': 'train_step',
        'after_train_iter:start': 'other',
        'after_train_iter:end': 'train_data',
        'after_train_epoch:start': 'other',
        'before_val:start': 'val',
        'after_val:end': 'other',
        'before_test:start': 'test',
        'after_test:end': 'other',
    }

    def __init__(self):
        self.cpu = dict.fromkeys(STAGES, 0.0)
        self.wall = dict.fromkeys(STAGES, 0.0)
        self.stage = 'setup'
        self._mark = _clock()

    def switch(self, stage: str) -> None:
        now = _clock()
        self.cpu[self.stage] += now[0] - self._mark[0]
        self.wall[self.stage] += now[1] - self._mark[1]
        self.stage, self._mark = stage, now

    def event(self, name: str, when: str) -> None:
        inside_eval = self.stage in ('val', 'test')
        if inside_eval and name not in ('after_val', 'after_test'):
            return  # per-iteration hooks of the evaluation loops stay in val / test
        stage = self.TRANSITIONS.get(f'{name}:{when}')
        if stage is not None:
            self.switch(stage)

    def result(self) -> Dict[str, Dict[str, float]]:
        self.switch(self.stage)
        return dict(cpu_s={k: round(v, 3) for k, v in self.cpu.items()},
                    wall_s={k: round(v, 3) for k, v in self.wall.items()})


_ACTIVE_TIMER: List[Optional[StageTimer]] = [None]


def profile_runner_hooks() -> None:
    """Let :class:`StageTimer` see mmengine's hook calls (idempotent). Only the profile mode
    calls this; it wraps ``Runner.call_hook`` and changes nothing else."""
    from mmengine.runner import Runner
    if getattr(Runner.call_hook, '_mmgcp_profiled', False):
        return
    original = Runner.call_hook

    def call_hook(self, fn_name: str, **kwargs) -> None:
        timer = _ACTIVE_TIMER[0]
        if timer is not None:
            timer.event(fn_name, 'start')
        original(self, fn_name, **kwargs)
        if timer is not None:
            timer.event(fn_name, 'end')

    call_hook._mmgcp_profiled = True
    Runner.call_hook = call_hook


def _manager_classes() -> list:
    from mmengine.utils import ManagerMixin
    found, todo = [], [ManagerMixin]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub not in found:
                found.append(sub)
                todo.append(sub)
    return found


def _instances() -> Dict[type, set]:
    return {cls: set(getattr(cls, '_instance_dict', {})) for cls in _manager_classes()}


def _release_new_instances(before: Dict[type, set]) -> None:
    """Close and forget the mmengine singletons created since ``before``."""
    import logging
    for cls in _manager_classes():
        instances = getattr(cls, '_instance_dict', None)
        if instances is None:
            continue
        for name in set(instances) - before.get(cls, set()):
            instance = instances.pop(name)
            if isinstance(instance, logging.Logger):
                for handler in list(instance.handlers):
                    handler.close()
                    instance.removeHandler(handler)
            elif hasattr(instance, 'close') and callable(instance.close):
                try:
                    instance.close()
                except Exception:  # a backend that fails to close must not fail the run
                    pass


def memoize_config_formatting(max_entries: int = 16) -> None:
    """Let mmengine format each distinct config text with yapf once per process.

    A Runner formats its config three times while it is built (the logged config, the dumped
    file, the visualizer's copy) and once more for every checkpoint it saves; for the toy Mask
    R-CNN each takes about 0.8 s of CPU, more than a third of a toy run's training. yapf's
    ``FormatCode`` is a deterministic function of the text and the style, so returning the
    earlier result for the same arguments leaves every log, dumped config and checkpoint byte
    for byte as the tool writes it without the cache. Idempotent; the cache keeps the last
    ``max_entries`` texts.
    """
    from mmengine.config import config as config_module
    if getattr(config_module.FormatCode, '_mmgcp_memoized', False):
        return
    original = config_module.FormatCode
    cache: Dict[tuple, tuple] = {}

    def format_code(text, style_config=None, **kwargs):
        key = (text, repr(style_config), tuple(sorted(kwargs.items())))
        if key not in cache:
            if len(cache) >= max_entries:
                cache.pop(next(iter(cache)))
            cache[key] = original(text, style_config=style_config, **kwargs)
        return cache[key]

    format_code._mmgcp_memoized = True
    config_module.FormatCode = format_code


class InProcessToolCalls(ToolCalls):
    """Executes a run's tool calls inside this process (a benchmark worker, or one task of a
    Slurm job).

    Commands are those of :class:`ToolCalls` (``python tools/<script>.py ARGS``), executed with
    :func:`runpy.run_path`; anything else runs in a subprocess.

    Args:
        repo_root (str): Repository root (where ``tools/`` is).
        launcher (str): ``'none'``, or ``'slurm'`` inside an ``srun`` task (the tools then get
            ``--launcher slurm`` and every task of the job is one rank). Defaults to ``'none'``.
        profile (bool): Record a :class:`StageTimer` breakdown of every call. Defaults to False.
    """

    def __init__(self, repo_root: str, launcher: str = 'none', profile: bool = False):
        if launcher not in ('none', 'slurm'):
            raise ValueError(f"in-process tool calls run launcher 'none' or 'slurm', got "
                             f'{launcher!r}.')
        super().__init__(repo_root, 'none')
        self.launcher = launcher
        self.profile = profile
        #: Results of the calls made since the last :meth:`pop_calls`.
        self.calls: List[dict] = []

    def train_cmd(self, run: Run, args: List[str]) -> List[str]:
        extra = ['--launcher', 'slurm'] if self.launcher == 'slurm' else []
        return [self.python, 'tools/train.py', run.config, '--work-dir', run.work_dir, *extra,
                *args]

    def test_cmd(self, run: Run, checkpoint: str, args: List[str]) -> List[str]:
        extra = ['--launcher', 'slurm'] if self.launcher == 'slurm' else []
        return [self.python, 'tools/test.py', run.config, checkpoint, '--work-dir', run.work_dir,
                *extra, *args]

    def pop_calls(self) -> List[dict]:
        calls, self.calls = self.calls, []
        return calls

    def call(self, cmd: List[str], log_path: str) -> Dict:
        """Run a command, its output appended to ``log_path``; returns rc, wall time, CPU time
        (user + sys of this process) and peak RSS (of this process, during the call)."""
        if len(cmd) < 2 or cmd[0] != self.python or not cmd[1].endswith('.py'):
            result = super().call(cmd, log_path)
            self.calls.append(dict(cmd=cmd[1:2], **result))
            return result
        script = cmd[1] if osp.isabs(cmd[1]) else osp.join(self.repo_root, cmd[1])
        os.makedirs(osp.dirname(osp.abspath(log_path)), exist_ok=True)
        # Here, not in __init__: the benchmark's pool workers get this object pickled and run
        # its calls in their own (spawned) processes.
        memoize_config_formatting()
        if self.profile:
            profile_runner_hooks()
        timer = StageTimer() if self.profile else None
        meter = PeakRSS(os.getpid())
        start = _clock()
        returncode = 0
        saved_argv, saved_cwd = sys.argv, os.getcwd()
        before = _instances()
        with open(log_path, 'a') as log:
            log.write(f'\n$ {" ".join(cmd)}   # in process {os.getpid()}\n')
            log.flush()
            try:
                with redirect_stdout(log), redirect_stderr(log):
                    sys.argv = [script, *cmd[2:]]
                    os.chdir(self.repo_root)
                    _ACTIVE_TIMER[0] = timer
                    try:
                        runpy.run_path(script, run_name='__main__')
                    except SystemExit as exit_:
                        code = exit_.code
                        returncode = code if isinstance(code, int) else int(code is not None)
                        if code is not None and not isinstance(code, int):
                            print(code)
                    except Exception:
                        traceback.print_exc()
                        returncode = 1
            finally:
                _ACTIVE_TIMER[0] = None
                sys.argv = saved_argv
                os.chdir(saved_cwd)
                _release_new_instances(before)
        end = _clock()
        result = dict(returncode=returncode, wall_time_s=end[1] - start[1],
                      cpu_time_s=end[0] - start[0], peak_rss_mb=meter.stop())
        entry = dict(cmd=[osp.basename(script)], **result)
        if timer is not None:
            entry['stages'] = timer.result()
        self.calls.append(entry)
        return result
