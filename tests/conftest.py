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


class _RunsCommandWhenLoaded:
    """Unpickling it runs ``touch <target>``: what a malicious checkpoint does with any command."""

    def __init__(self, target: str):
        self.target = target

    def __reduce__(self):
        return (os.system, (f'touch {self.target}', ))


#: How the crafted checkpoints' pickle names the function they call (``posix.system`` on Linux).
CRAFTED_GLOBAL = f'{os.system.__module__}.system'


@pytest.fixture
def crafted_checkpoint(tmp_path, monkeypatch):
    """``make(name, checkpoint=None, legacy=False) -> (path, marker)``: save ``checkpoint``
    (default: a one-tensor state dict) with an object in its ``meta`` whose unpickling creates
    ``marker``; ``make.global_name`` is the function the pickle names. The test runs with
    ``MMGCP_TRUST_CHECKPOINT`` unset, whatever the caller's shell has."""
    import torch
    monkeypatch.delenv('MMGCP_TRUST_CHECKPOINT', raising=False)

    def make(name: str = 'crafted.pth', checkpoint: Optional[dict] = None, legacy: bool = False):
        marker = tmp_path / f'{name}.code_ran'
        checkpoint = dict(checkpoint or {'state_dict': {'weight': torch.zeros(2)}})
        checkpoint['meta'] = dict(checkpoint.get('meta') or {},
                                  note=_RunsCommandWhenLoaded(str(marker)))
        path = str(tmp_path / name)
        torch.save(checkpoint, path, _use_new_zipfile_serialization=not legacy)
        return path, marker

    make.global_name = CRAFTED_GLOBAL
    return make
