# Copyright (c) mmgcp contributors. All rights reserved.
"""Shared fixtures. ``tests`` is deliberately not a package: mmdet and mmseg install one."""
import os
import os.path as osp
import subprocess
import sys
from typing import List, Optional

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='session')
def repo_root() -> str:
    """Absolute path of the repository root."""
    return REPO_ROOT


def run_tool(args: List[str], cwd: Optional[str] = None, timeout: int = 600,
             env: Optional[dict] = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``python <args>`` from the repo root the way a user would, capturing output.

    On failure the tool's output is part of the assertion message.
    """
    full_env = dict(os.environ)
    full_env.setdefault('OMP_NUM_THREADS', '2')
    full_env['PYTHONPATH'] = REPO_ROOT + os.pathsep + full_env.get('PYTHONPATH', '')
    full_env.update(env or {})
    proc = subprocess.run([sys.executable] + args, cwd=cwd or REPO_ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f'`python {" ".join(args)}` exited with {proc.returncode}\n'
                             f'--- stdout ---\n{proc.stdout[-6000:]}\n'
                             f'--- stderr ---\n{proc.stderr[-6000:]}')
    return proc


@pytest.fixture(scope='session')
def tool_runner():
    """The :func:`run_tool` helper as a fixture."""
    return run_tool
