# Copyright (c) mmgcp contributors. All rights reserved.
"""Shared fixtures. ``tests`` is deliberately not a package: mmdet and mmseg install one."""
import os
import os.path as osp
import socket
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


@pytest.fixture(autouse=True)
def restore_default_scope():
    """Give every test mmengine's default scope as it found it.

    ``init_default_scope`` and a Runner create a global ``DefaultScope`` instance that outlives
    the test; a later test then builds ``type='X'`` in another library's registry, and passes or
    fails by the order the tests ran in.
    """
    from mmengine.registry import DefaultScope
    saved = DefaultScope._instance_dict.copy()
    yield
    DefaultScope._instance_dict = saved


def get_free_port() -> int:
    """A TCP port of 127.0.0.1 that no process listens on, chosen by the OS (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture
def free_port():
    """The :func:`get_free_port` helper as a fixture (rendezvous ports of torchrun)."""
    return get_free_port
