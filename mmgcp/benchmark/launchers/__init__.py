# Copyright (c) mmgcp contributors. All rights reserved.
"""Launchers: how planned runs execute (and how their state is read). Nothing here knows about
reports; :mod:`mmgcp.benchmark.driver` is the only caller."""
import sys

from .base import Events, Launcher, RunState
from .local import SequentialLauncher, WorkerPoolLauncher


def make_launcher(settings, repo_root: str, workers: int = 0, profile: bool = False,
                  python: str = sys.executable, poll_s: float = 10.0) -> Launcher:
    """The launcher for ``settings.launcher``.

    Args:
        settings (LaunchSettings): How runs are launched.
        repo_root (str): Repository root.
        workers (int): ``none``: in-process worker processes (0: one process per tool call).
        profile (bool): ``none`` with workers: record each run's CPU time per stage.
        python (str): Interpreter of the tool processes / jobs.
        poll_s (float): ``slurm``: seconds between state polls while waiting.
    """
    if settings.launcher == 'slurm':
        from .slurm import SlurmLauncher
        return SlurmLauncher(settings, repo_root, python=python, poll_s=poll_s)
    if settings.launcher == 'none' and workers >= 1:
        return WorkerPoolLauncher(repo_root, workers, profile=profile)
    return SequentialLauncher(repo_root, settings.launcher, python)


__all__ = ['Events', 'Launcher', 'RunState', 'SequentialLauncher', 'WorkerPoolLauncher',
           'make_launcher']
