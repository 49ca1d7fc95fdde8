# Copyright (c) mmgcp contributors. All rights reserved.
"""What state a run is in: its ``status.json``, read and written in one place.

A status holds ``state`` (``'running'``, ``'done'``, ``'failed'``; a Slurm job that was stopped to
be requeued leaves ``'running'`` with ``interrupted``), the metrics of a finished run, its times,
peak memory and error, and the settings it was made with (:mod:`mmgcp.benchmark.settings`).
"""
import json
import os
import os.path as osp

from .experiment import Run

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
    tmp = osp.join(run.work_dir, f'{STATUS_FILE}.{os.getpid()}.tmp')
    with open(tmp, 'w') as f:
        json.dump(status, f, indent=2)
    os.replace(tmp, osp.join(run.work_dir, STATUS_FILE))
