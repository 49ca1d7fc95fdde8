# Copyright (c) mmgcp contributors. All rights reserved.
"""Run a benchmark on Slurm: one ``sbatch`` job per run, fine-tuning after its pretraining.

Every run of the plan becomes its own job (``<work_dir>/slurm/scripts/<run>.sh``) with the run's
nodes, tasks and GPUs; a fine-tuning job waits for its pretraining with
``--dependency=afterok:<job>`` and ``--kill-on-invalid-dep=yes`` (a failed pretraining cancels its
dependents instead of leaving them pending forever). Inside a job, training and the distributed
test both run under ``srun`` with ``--launcher slurm``. Submitting returns at once; calling
:func:`run_on_slurm` again (the same command) collects finished runs into the report, shows queued
and running ones, reports failed jobs (with the end of their log and the dependents they took
down), and resubmits failures. Job ids are kept in ``<work_dir>/slurm/jobs.json``.

The job entry point is ``python -m mmgcp.benchmark.slurm job WORK_DIR RUN_NAME``.
"""
import fcntl
import json
import os
import os.path as osp
import re
import shlex
import subprocess
import sys
import time
from typing import Dict, List, Optional, TextIO

from mmengine.config import Config

from mmgcp.utils import log_tail

from .experiment import Run, expand_runs
from .launchers import RecipeLauncher
from .plan import LaunchSettings, read_plan
from .report import plot_results, write_results
from .runner import ToolLauncher, execute_run, read_status, write_status
from .settings import attach_settings, check_settings

JOBS_FILE = 'jobs.json'
#: Slurm job states in which a job may still run.
ACTIVE_STATES = {'PENDING', 'CONFIGURING', 'RUNNING', 'COMPLETING', 'SUSPENDED', 'REQUEUED',
                 'REQUEUE_HOLD', 'REQUEUE_FED', 'RESIZING', 'SIGNALING', 'STAGE_OUT',
                 'RESV_DEL_HOLD', 'STOPPED'}
START_HINT = ('start one on this machine with `bash tools/slurm/start_local_slurm.sh` and '
              '`export SLURM_CONF=/tmp/mmgcp-slurm/slurm.conf`, or run on a cluster login node')


class SlurmError(RuntimeError):
    """Slurm is missing, unreachable, or refused a request."""


def slurm_call(args: List[str], check: bool = True) -> subprocess.CompletedProcess:
    """Run a Slurm client command; a missing client or an error is a :class:`SlurmError`."""
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise SlurmError(f'`{args[0]}` not found: the Slurm client is not installed here; '
                         f'{START_HINT}.') from None
    if check and proc.returncode != 0:
        raise SlurmError(f'`{shlex.join(args)}` failed ({proc.returncode}): '
                         f'{(proc.stderr or proc.stdout).strip()}')
    return proc


def slurm_unavailable() -> Optional[str]:
    """Why Slurm cannot be used from here, or None when ``sinfo`` reaches a controller."""
    conf = os.environ.get('SLURM_CONF')
    if conf and not osp.isfile(conf):  # the client would retry reading it for a minute
        return f'SLURM_CONF={conf} does not exist; {START_HINT}.'
    try:
        proc = slurm_call(['sinfo', '-h', '-o', '%P'], check=False)
    except SlurmError as err:
        return str(err)
    if proc.returncode != 0:
        return (f'no Slurm controller answers (`sinfo`: {proc.stderr.strip()[:300]}); '
                f'{START_HINT}.')
    return None


def check_partition(partition: Optional[str]) -> str:
    """The partition jobs go to (the default one when None); unknown ones are an error."""
    reason = slurm_unavailable()
    if reason:
        raise SlurmError(reason)
    names = slurm_call(['sinfo', '-h', '-o', '%P']).stdout.split()
    default = next((n.rstrip('*') for n in names if n.endswith('*')), None)
    names = [n.rstrip('*') for n in names]
    if partition is None:
        if default is None:
            raise SlurmError(f'the cluster has no default partition; pass --slurm-partition '
                             f'(one of {names}).')
        return default
    if partition not in names:
        raise SlurmError(f'partition {partition!r} does not exist on this cluster; pass '
                         f'--slurm-partition with one of {names}.')
    return partition


_EXCEPTION = re.compile(r'^(\[rank\d+\]:\s*)?[\w.]+(Error|Exception|Interrupt)\b')
_KEY = re.compile(r'(?:^| )([A-Za-z][\w:/]*)=')


def parse_scontrol(text: str) -> Dict[str, Dict[str, str]]:
    """``scontrol show job -o`` output -> ``{job_id: {key: value}}``."""
    jobs = {}
    for line in text.splitlines():
        marks = list(_KEY.finditer(line.strip()))
        line = line.strip()
        fields = {}
        for i, m in enumerate(marks):
            end = marks[i + 1].start() if i + 1 < len(marks) else len(line)
            fields[m.group(1)] = line[m.end():end].strip()
        if 'JobId' in fields:
            jobs[fields['JobId']] = fields
    return jobs


def job_states() -> Dict[str, Dict[str, str]]:
    """Every job the controller knows (finished ones stay ``MinJobAge`` seconds)."""
    proc = slurm_call(['scontrol', 'show', 'job', '-o'], check=False)
    if proc.returncode != 0 and 'No jobs' not in proc.stderr + proc.stdout:
        raise SlurmError(f'`scontrol show job` failed: {proc.stderr.strip()}')
    return parse_scontrol(proc.stdout)


def job_name(run_name: str) -> str:
    return 'mmgcp-' + run_name.replace('/', '.')


def job_script(entry: dict, work_dir: str, settings: LaunchSettings, repo_root: str,
               python: str) -> str:
    """The ``sbatch`` script of one planned run."""
    lines = ['#!/bin/bash', f'#SBATCH --job-name={job_name(entry["name"])}',
             f'#SBATCH --output={osp.join(entry["work_dir"], "slurm-%j.log")}',
             f'#SBATCH --nodes={entry["nodes"]}', f'#SBATCH --ntasks={entry["gpus"]}',
             f'#SBATCH --cpus-per-task={settings.cpus_per_task}']
    if settings.device == 'cuda':
        lines += [f'#SBATCH --ntasks-per-node={entry["gpus_per_node"]}',
                  f'#SBATCH --gpus-per-node={entry["gpus_per_node"]}']
    lines += [
        f'# {entry["name"]}: {entry["gpus"]} process(es) x {entry["samples_per_gpu"]} images, '
        f'lr {entry["lr"]}. Inside this job (see plan.json):',
        *(f'#   {shlex.join(entry[k])}' for k in ('train_command', 'test_command') if entry[k]),
        '# a distinct rendezvous port per job, so jobs sharing a node do not collide',
        'export MASTER_PORT=$((20000 + SLURM_JOB_ID % 20000))',
        f'export OMP_NUM_THREADS={settings.cpus_per_task}',
        f'export PYTHONPATH={shlex.quote(repo_root)}${{PYTHONPATH:+:$PYTHONPATH}}',
        f'cd {shlex.quote(repo_root)}',
        f'exec {shlex.quote(python)} -u -m mmgcp.benchmark.slurm job {shlex.quote(work_dir)} '
        f'{shlex.quote(entry["name"])}', '']
    return '\n'.join(lines)


def sbatch(script: str, partition: str, settings: LaunchSettings,
           after: List[str] = (), test_only: bool = False) -> str:
    """Submit a script; returns the job id (``--test-only``: validates, submits nothing)."""
    cmd = ['sbatch', '--parsable', f'--partition={partition}', '--kill-on-invalid-dep=yes']
    if after:
        cmd.append('--dependency=afterok:' + ':'.join(after))
    if test_only:
        cmd.append('--test-only')
    cmd += [*settings.sbatch_args, script]
    proc = slurm_call(cmd, check=False)
    if proc.returncode != 0:
        raise SlurmError(f'sbatch refused {osp.basename(script)} ({proc.returncode}): '
                         f'{proc.stderr.strip()}\n(command: {shlex.join(cmd)}; check '
                         '--sbatch-args, --gpus and --slurm-partition)')
    return proc.stdout.strip().split(';')[0]


def _read_jobs(work_dir: str) -> Dict[str, dict]:
    path = osp.join(work_dir, 'slurm', JOBS_FILE)
    if not osp.isfile(path):
        return {}
    with open(path) as f:
        return json.load(f)


def _write_jobs(work_dir: str, jobs: Dict[str, dict]) -> None:
    path = osp.join(work_dir, 'slurm', JOBS_FILE)
    with open(path + '.tmp', 'w') as f:
        json.dump(jobs, f, indent=2)
    os.replace(path + '.tmp', path)


def collect(runs: List[Run], plan: dict, jobs: Dict[str, dict]) -> Dict[str, dict]:
    """The state of every run from its status file and its Slurm job.

    Returns:
        dict: run name -> ``{state, job_id, slurm_state, reason, start, end, error}`` with state
        ``done``, ``queued``, ``running``, ``failed``, ``cancelled`` or ``not submitted``.
    """
    known = job_states() if jobs else {}
    entries = {r['name']: r for r in plan['runs']}
    states: Dict[str, dict] = {}
    for run in runs:
        status = read_status(run)
        job = jobs.get(run.name, {})
        info = known.get(job.get('job_id', ''), {})
        if info and info.get('JobName') != job_name(run.name):
            info = {}  # a job id of another controller's life
        record = dict(job_id=job.get('job_id'), slurm_state=info.get('JobState'),
                      reason=info.get('Reason'), start=info.get('StartTime', job.get('start')),
                      end=info.get('EndTime', job.get('end')), status=status)
        log = osp.join(run.work_dir, f"slurm-{job.get('job_id')}.log")
        slurm_state = info.get('JobState', '')
        if slurm_state in ACTIVE_STATES:  # (a done run's job may still be exiting)
            record['state'] = 'queued' if slurm_state == 'PENDING' else 'running'
        elif status.get('state') == 'done':
            record['state'] = 'done'
        elif not job:
            record['state'] = 'not submitted'
        elif slurm_state == 'CANCELLED' and 'Dependency' in info.get('Reason', ''):
            deps = [d for d in entries.get(run.name, {}).get('depends_on', [])
                    if states.get(d, {}).get('state') in ('failed', 'cancelled')]
            record.update(state='cancelled', error=(
                f"cancelled by Slurm: its dependency {', '.join(deps) or info.get('Dependency')} "
                'did not finish'))
        else:
            reason = info.get('Reason')
            why = f'job {job["job_id"]} {slurm_state or "gone"}' + (
                f' ({reason})' if reason not in (None, 'None') else '')
            failed = status.get('error') if status.get('state') == 'failed' else ''
            tail = failed or log_tail(log, 15)
            # the exception last: one-line summaries (the report's table) show the last line
            errors = [ln for ln in tail.splitlines() if _EXCEPTION.match(ln)]
            record.update(state='failed', error=f'{why}; end of its log ({log}):\n{tail}' + (
                f'\n{why}: {errors[-1]}' if errors else ''))
        states[run.name] = record
    return states


def _status_for_report(record: dict) -> dict:
    if record['state'] == 'done':
        return record['status']
    status = dict(record['status'])
    status.update(state=record['state'], error=record.get('error', ''))
    return status


def state_table(runs: List[Run], states: Dict[str, dict]) -> str:
    lines = ['| run | job | state | start | end |', '|---|---|---|---|---|']
    for run in runs:
        s = states[run.name]
        state = s['state'] + (f" ({s['reason']})" if s['state'] == 'queued' and s.get('reason')
                              else '')
        lines.append(f"| {run.name} | {s.get('job_id') or '-'} | {state} | "
                     f"{s.get('start') or '-'} | {s.get('end') or '-'} |")
    return '\n'.join(lines)


def run_on_slurm(exp: Config, work_dir: str, plan: dict, settings: LaunchSettings,
                 repo_root: str, retry_failed: bool = True, wait: bool = False,
                 poll_s: float = 5.0, python: str = sys.executable,
                 stream: TextIO = sys.stdout) -> dict:
    """Submit (or follow, collect, resubmit) every run of a planned benchmark on Slurm.

    Args:
        exp (Config): The experiment.
        work_dir (str): Absolute work dir of the benchmark (the plan's).
        plan (dict): From :func:`build_plan` with no missing input and no error.
        settings (LaunchSettings): ``launcher='slurm'`` settings.
        repo_root (str): Repository root (jobs run there).
        retry_failed (bool): Resubmit failed runs and the dependents they cancelled.
        wait (bool): Poll ``scontrol`` until no job is queued or running.
        poll_s (float): Seconds between polls.
        python (str): Interpreter of the jobs.
        stream (TextIO): Where progress goes.

    Returns:
        dict: ``states`` (run name -> state record), ``submitted`` (run name -> job id), and,
        when some runs ended, the report paths and table of :func:`write_results`.
    """
    partition = check_partition(settings.partition)
    runs = expand_runs(exp, work_dir, plan['seeds'])
    attach_settings(runs, repo_root)
    check_settings(runs, work_dir)  # a run made with other settings is not reused
    slurm_dir = osp.join(work_dir, 'slurm')
    os.makedirs(osp.join(slurm_dir, 'scripts'), exist_ok=True)
    exp.dump(osp.join(slurm_dir, 'experiment.py'))
    entries = {r['name']: r for r in plan['runs']}
    jobs = _read_jobs(work_dir)
    states = collect(runs, plan, jobs)

    to_submit = [r for r in runs if states[r.name]['state'] == 'not submitted' or (
        retry_failed and states[r.name]['state'] in ('failed', 'cancelled'))]
    if to_submit and exp.get('toy_data'):
        from .transfer import prepare_toy_data
        stream.write('generating the toy data sets (on this host)...\n')
        prepare_toy_data(exp.toy_data, ToolLauncher(repo_root, python=python))
    scripts = {}
    for run in to_submit:
        os.makedirs(run.work_dir, exist_ok=True)
        path = osp.join(slurm_dir, 'scripts', run.name.replace('/', '.') + '.sh')
        with open(path, 'w') as f:
            f.write(job_script(entries[run.name], work_dir, settings, repo_root, python))
        scripts[run.name] = path
    if to_submit:  # refuse bad options before anything is queued
        sbatch(scripts[to_submit[0].name], partition, settings, test_only=True)
    submitted: Dict[str, str] = {}
    for run in to_submit:
        after, blocked = [], None
        for dep in entries[run.name]['depends_on']:
            dep_state = states[dep]['state']
            if dep in submitted:
                after.append(submitted[dep])
            elif dep_state in ('queued', 'running'):
                after.append(states[dep]['job_id'])
            elif dep_state != 'done':
                blocked = dep
        if blocked:
            states[run.name].update(state='failed', error=(
                f'not submitted: its dependency {blocked} {states[blocked]["state"]} (see its '
                'log); rerun without --no-retry-failed to resubmit both'))
            continue
        job_id = sbatch(scripts[run.name], partition, settings, after)
        submitted[run.name] = job_id
        if states[run.name]['state'] in ('failed', 'cancelled'):
            stream.write(f"resubmitting {run.name} (was {states[run.name]['state']}, job "
                         f"{states[run.name]['job_id']}) as job {job_id}\n")
        status = read_status(run)
        if status.get('state') == 'failed':  # the new job starts from a clean state
            write_status(run, dict(status, state='submitted', job_id=job_id))
        jobs[run.name] = dict(job_id=job_id, submitted=time.time(), script=scripts[run.name],
                              after=after)
        states[run.name].update(state='queued', job_id=job_id, error='')
    if submitted:
        _write_jobs(work_dir, jobs)
        stream.write(f'submitted {len(submitted)} job(s) to partition {partition}: '
                     f"{', '.join(f'{n}={j}' for n, j in submitted.items())}\n")

    if wait:
        while True:
            states = collect(runs, plan, jobs)
            active = [n for n, s in states.items() if s['state'] in ('queued', 'running')]
            if not active:
                break
            time.sleep(poll_s)
    else:
        states = collect(runs, plan, jobs)
    for name, record in states.items():  # keep times: finished jobs leave scontrol eventually
        if record.get('job_id') and name in jobs:
            jobs[name].update(start=record.get('start'), end=record.get('end'),
                              state=record['state'])
    _write_jobs(work_dir, jobs)

    out = dict(states=states, submitted=submitted)
    ended = [r for r in runs if states[r.name]['state'] in ('done', 'failed', 'cancelled')]
    active = [r for r in runs if states[r.name]['state'] in ('queued', 'running')]
    stream.write('\n' + state_table(runs, states) + '\n')
    if ended:
        out.update(write_results(work_dir, ended, [_status_for_report(states[r.name])
                                                   for r in ended],
                                 meta=dict(preset=exp.get('preset'), seeds=plan['seeds'],
                                           launcher='slurm')))
        if not active:
            out['plots'] = plot_results(work_dir, ended, out['summary'])
    for run in runs:
        record = states[run.name]
        if record['state'] in ('failed', 'cancelled'):
            stream.write(f"\n{run.name} {record['state']}: {record.get('error', '')}\n")
    if active:
        cmd = ' '.join(shlex.quote(a) for a in sys.argv) if sys.argv else 'the same command'
        stream.write(f'\n{len(active)} run(s) queued or running. Follow with `squeue` or '
                     f'`tail -f {work_dir}/runs/seed*/*/*/slurm-*.log`; run `{cmd}` again to '
                     'collect finished runs (add --wait to block until all are done).\n')
    elif any(states[r.name]['state'] in ('failed', 'cancelled') for r in runs):
        stream.write('\nRun the same command again to resubmit the failed runs and the '
                     'dependents they cancelled (finished runs are kept); --no-retry-failed '
                     'keeps them failed.\n')
    return out


def run_job(work_dir: str, name: str, repo_root: str) -> int:
    """Body of one run's Slurm job: prepare its pretrained weights, train, evaluate.

    Returns:
        int: 0 when the run is done, 1 otherwise (so ``afterok`` dependents are cancelled).
    """
    from .transfer import _pretrained_for
    plan = read_plan(work_dir)
    exp = Config.fromfile(osp.join(work_dir, 'slurm', 'experiment.py'))
    settings = LaunchSettings(**plan['settings'])
    runs = {r.name: r for r in expand_runs(exp, work_dir, plan['seeds'])}
    if name not in runs:
        print(f'{name} is not a run of {work_dir}/plan.json', file=sys.stderr)
        return 1
    run = runs[name]
    attach_settings([run], repo_root)
    tools = RecipeLauncher(repo_root, plan, settings)
    pretrained = None
    if run.task != 'pretrain' and not run.from_scratch:
        deps = {d: read_status(runs[d]) for d in runs if d.startswith(f'{run.variant}/pretrain/')
                and runs[d].seed == run.seed}
        variant_dir = osp.join(work_dir, 'runs', f'seed{run.seed}', run.variant)
        os.makedirs(variant_dir, exist_ok=True)
        # runs of one variant share its converted weights: convert them once, under a lock
        with open(osp.join(variant_dir, '.convert.lock'), 'w') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                pretrained = _pretrained_for(run, exp, work_dir, tools, deps)
            except (RuntimeError, FileNotFoundError, KeyError) as err:
                write_status(run, dict(state='failed', stage='convert', error=str(err)))
                print(f'{name}: {err}', file=sys.stderr)
                return 1
    status = execute_run(run, tools, pretrained,
                         on_stage=lambda stage: print(f'[{name}] {stage}', flush=True))
    print(f"[{name}] {status['state']}", flush=True)
    if status['state'] != 'done':
        print(status.get('error', ''), file=sys.stderr)
    return 0 if status['state'] == 'done' else 1


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3 or argv[0] != 'job':
        print('usage: python -m mmgcp.benchmark.slurm job WORK_DIR RUN_NAME', file=sys.stderr)
        return 2
    import mmgcp  # noqa: F401  registers mmgcp's modules
    return run_job(argv[1], argv[2], os.getcwd())


if __name__ == '__main__':
    sys.exit(main())
