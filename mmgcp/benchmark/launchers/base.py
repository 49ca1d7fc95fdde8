# Copyright (c) mmgcp contributors. All rights reserved.
"""What every launcher does: execute (or submit) planned runs, and say what state each is in.

A launcher knows nothing about reports: the driver gives it the runs that are not done, and asks
it afterwards for the state of every run (:class:`RunState`).
"""
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

from ..experiment import Run
from ..status import read_status

#: States a run can be in, as the report shows them.
STATES = ('done', 'failed', 'cancelled', 'queued', 'running', 'not run')


@dataclass
class RunState:
    """Where a run stands.

    Args:
        state (str): One of :data:`STATES`.
        status (dict): Its ``status.json`` (metrics of a done run, times, error).
        error (str): Why it failed or was cancelled ('' otherwise).
        job (dict): What the scheduler says about it (job id, its final state and reason,
            start, end, requeues), when there is one.
        active (bool): It is being executed elsewhere right now (a queued or running job):
            not to be launched again.
    """
    state: str
    status: dict = field(default_factory=dict)
    error: str = ''
    job: Dict[str, object] = field(default_factory=dict)
    active: bool = False

    def for_report(self) -> dict:
        """The status the report shows for this run."""
        status = dict(self.status)
        if self.state != 'done':
            status.update(state=self.state, error=self.error or status.get('error', ''))
        if self.job:
            status['job'] = self.job
        return status


@dataclass
class Events:
    """Callbacks of a blocking launcher: a run started, reached a stage, ended."""
    started: Callable[[Run], None] = lambda run: None
    stage: Callable[[Run, str], None] = lambda run, stage: None
    finished: Callable[[Run, dict], None] = lambda run, status: None


class Launcher:
    """Executes planned runs.

    ``blocking`` launchers (local workers, torchrun) return from :meth:`launch` when every run
    has ended; a non-blocking one (Slurm) returns once the runs are queued (or, asked to wait,
    when they have ended).
    """
    name = 'base'
    blocking = True
    #: The benchmark's work dir (set by the driver with :meth:`bind`).
    work_dir: Optional[str] = None

    def bind(self, work_dir: str) -> None:
        """Tell the launcher the benchmark's work dir (where it may keep its own records)."""
        self.work_dir = work_dir

    def commands(self, run: Run) -> Dict[str, List[str]]:
        """The commands that execute ``run``, for ``plan.json`` and the dry run."""
        return {}

    def check(self) -> None:
        """Refuse, before anything is prepared, settings that cannot work here."""

    def launch(self, runs: List[Run], events: Optional[Events] = None,
               all_runs: Optional[List[Run]] = None) -> None:
        """Execute (or submit) ``runs``, in order, a run after the ones it depends on
        (``all_runs``: every run of the experiment, where those dependencies are)."""
        raise NotImplementedError

    def collect(self, runs: List[Run]) -> Dict[str, RunState]:
        """The state of every run, from its status file."""
        states = {}
        for run in runs:
            status = read_status(run)
            state = status.get('state', 'not run')
            if state not in STATES:
                state = 'not run'
            states[run.name] = RunState(state, status, status.get('error', ''))
        return states
