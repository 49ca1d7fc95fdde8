# Copyright (c) mmgcp contributors. All rights reserved.
"""The one-node cluster of tools/slurm/start_local_slurm.sh keeps accounting as a real cluster
does: ``sacct`` (slurmdbd + MariaDB) reports the final state and exit code of each job."""
import os
import os.path as osp
import subprocess
import time
from typing import Dict, Tuple

import pytest

# sacct states of a job that may still change (any other state is final).
OPEN_STATES = {'', 'PENDING', 'RUNNING', 'REQUEUED', 'RESIZING', 'SUSPENDED'}
# Bound on the wait for two one-line jobs: generous for a loaded machine, never reached normally.
WAIT_S = 180


@pytest.fixture
def slurm_env(slurm_conf) -> Dict[str, str]:
    """The environment of the tests' Slurm (tests/conftest.py, ``slurm_conf``)."""
    return dict(os.environ, SLURM_CONF=slurm_conf)


def _sbatch(env: Dict[str, str], folder: str, name: str, body: str) -> str:
    """Submit ``body`` as a batch script run in ``folder``; return the job id."""
    script = osp.join(folder, f'{name}.sh')
    with open(script, 'w') as f:
        f.write(f'#!/bin/bash\n{body}\n')
    proc = subprocess.run(['sbatch', '--parsable', f'--job-name={name}', f'--chdir={folder}',
                           f'--output={folder}/{name}.out', script],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f'sbatch failed: {proc.stderr}'
    return proc.stdout.strip().split(';')[0]


def _final_records(env: Dict[str, str], job_ids: Tuple[str, ...]) -> Dict[str, Dict[str, str]]:
    """Poll ``sacct`` until every job has a final state; return its records by job id."""
    fields = ['JobID', 'State', 'ExitCode', 'Start', 'End', 'Elapsed']
    deadline = time.monotonic() + WAIT_S
    records: Dict[str, Dict[str, str]] = {}
    while time.monotonic() < deadline:
        proc = subprocess.run(['sacct', '-n', '-X', '-P', '-j', ','.join(job_ids),
                               '-o', ','.join(fields)],
                              env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f'sacct failed: {proc.stderr}'
        records = {line.split('|')[0]: dict(zip(fields, line.split('|')))
                   for line in proc.stdout.splitlines() if line}
        # A job that was just submitted may not be in the database yet: absent is not final.
        if all(records.get(job, {}).get('State', '') not in OPEN_STATES for job in job_ids):
            return records
        time.sleep(0.5)
    queue = subprocess.run(['scontrol', 'show', 'job'] + list(job_ids), env=env,
                           capture_output=True, text=True, timeout=60).stdout
    raise AssertionError(f'jobs {job_ids} had no final sacct state after {WAIT_S}s: '
                         f'{records}\nscontrol:\n{queue}')


def test_sacct_reports_final_state_and_exit_code(slurm_env, tmp_path):
    folder = str(tmp_path)
    failing = _sbatch(slurm_env, folder, 'exits3', 'echo started; exit 3')
    passing = _sbatch(slurm_env, folder, 'exits0', 'echo started; exit 0')
    records = _final_records(slurm_env, (failing, passing))
    assert (records[failing]['State'], records[failing]['ExitCode']) == ('FAILED', '3:0')
    assert (records[passing]['State'], records[passing]['ExitCode']) == ('COMPLETED', '0:0')
    for job, name in ((failing, 'exits3'), (passing, 'exits0')):
        # Both ran (their output is in this test's folder) and accounting has their times.
        with open(osp.join(folder, f'{name}.out')) as f:
            assert f.read() == 'started\n'
        assert records[job]['End'] != 'Unknown', records[job]
        assert records[job]['Start'] <= records[job]['End'], records[job]  # ISO 8601 times
