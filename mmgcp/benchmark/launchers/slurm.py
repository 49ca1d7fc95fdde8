# Copyright (c) mmgcp contributors. All rights reserved.
"""Run a benchmark on Slurm: one job per run, submitted with submitit, states from ``sacct``.

- Submission: :class:`submitit.SlurmExecutor` writes each run's sbatch script and pickles the
  job (:class:`RunJob`) under ``<work_dir>/slurm/jobs/``; the job's nodes, tasks and GPUs are
  the run's recipe (``--gpus-per-node=N`` or ``--gres=gpu:N``, :data:`~..plan.GPU_REQUESTS`);
  a fine-tuning job waits for its pretraining (``--dependency=afterok:<job>`` with
  ``--kill-on-invalid-dep=yes``). Every task of the job is one rank: it runs
  ``tools/train.py`` and ``tools/test.py`` in process with ``--launcher slurm``.
- Time limits and preemption: jobs get ``--time`` (``--slurm-time``), ``--requeue`` and
  ``--signal=USR2@<delay>``. On USR2 the training saves a checkpoint at the end of the running
  iteration (:class:`~mmgcp.engine.SignalCheckpointHook`), the job requeues itself
  (``scontrol requeue``) and its next start resumes from that checkpoint; a job that reaches
  its limit outside training (while evaluating) requeues at once. On SIGTERM (preemption)
  training saves a checkpoint too, and Slurm requeues it. After ``--slurm-max-requeues`` the
  run counts as failed.
- States: ``sacct`` (what a real cluster keeps after the controller has forgotten a job), every
  attempt of a requeued job included; a failed run shows the job's final state and why
  (TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, PREEMPTED, a cancelled dependency) with the end of its
  log. Job ids are kept in ``<work_dir>/slurm/jobs.json``.

submitit's own USR2 handler checkpoints by calling the job's ``checkpoint()`` inside the signal
handler, i.e. in the middle of whatever the training was doing; the job installs its own handler
instead, so the checkpoint is taken between two iterations (the same requeue mechanism).
"""
import json
import os
import os.path as osp
import shlex
import signal
import subprocess
import sys
import time
from typing import Dict, List, Optional

from ..execute import INTERRUPTED, execute_run, failure_text, log_path, run_options
from ..experiment import Run
from ..plan import LaunchSettings
from ..status import read_status, write_status
from .base import Events, Launcher, RunState

JOBS_FILE = 'jobs.json'
START_HINT = ('start one on this machine with `bash tools/slurm/start_local_slurm.sh` and '
              '`export SLURM_CONF=/tmp/mmgcp-slurm/slurm.conf`, or run on a cluster login node')
#: sacct states in which a job may still run (a requeued job passes through REQUEUED, PENDING).
ACTIVE_STATES = {'PENDING', 'CONFIGURING', 'RUNNING', 'COMPLETING', 'SUSPENDED', 'REQUEUED',
                 'REQUEUE_HOLD', 'REQUEUE_FED', 'RESIZING', 'SIGNALING', 'STAGE_OUT',
                 'RESV_DEL_HOLD', 'STOPPED'}
#: What a final state means, for the report.
STATE_MEANINGS = {
    'TIMEOUT': 'reached its time limit',
    'OUT_OF_MEMORY': 'ran out of memory',
    'NODE_FAIL': 'its node failed',
    'PREEMPTED': 'was preempted and not requeued',
    'BOOT_FAIL': 'its node failed to boot',
    'DEADLINE': 'reached its deadline',
    'FAILED': 'exited with an error',
    'CANCELLED': 'was cancelled',
    'COMPLETED': 'ended',
}


class SlurmError(RuntimeError):
    """Slurm is missing, unreachable, or refused a request."""


def slurm_call(args: List[str], check: bool = True) -> subprocess.CompletedProcess:
    """Run a Slurm client command; a missing client or an error is a :class:`SlurmError`."""
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
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


def partition_time(partition: str) -> str:
    """The time limit a job gets in ``partition`` when it asks for none: its default time, else
    its maximum (``UNLIMITED`` for none)."""
    fields = slurm_call(['sinfo', '-h', '-p', partition, '-o', '%L|%l']).stdout.split()[0]
    default, maximum = fields.split('|')
    for value in (default, maximum):
        if value and value not in ('n/a', 'infinite', 'UNLIMITED'):
            return value
    return 'UNLIMITED'


def read_sacct(job_ids: List[str]) -> Dict[str, List[dict]]:
    """Every attempt of each job, oldest first, from ``sacct`` (``-D``: a requeued job's earlier
    attempts too): ``{job_id: [{State, ExitCode, Reason, Start, End, Elapsed, Timelimit}]}``."""
    if not job_ids:
        return {}
    fields = ['JobID', 'State', 'ExitCode', 'Reason', 'Start', 'End', 'Elapsed', 'Timelimit']
    proc = slurm_call(['sacct', '-n', '-P', '-X', '-D', '-j', ','.join(job_ids), '-o',
                       ','.join(fields)], check=False)
    if proc.returncode != 0:
        raise SlurmError(f'`sacct` failed: {proc.stderr.strip()[:300]} (Slurm accounting must be '
                         'on: AccountingStorageType=accounting_storage/slurmdbd)')
    attempts: Dict[str, List[dict]] = {}
    for line in proc.stdout.splitlines():
        values = line.split('|')
        if len(values) != len(fields):
            continue
        record = dict(zip(fields, values))
        attempts.setdefault(record.pop('JobID'), []).append(record)
    return attempts


def queued_jobs(job_ids: List[str]) -> Dict[str, str]:
    """Jobs the controller still lists (``squeue``): job id -> state. For jobs ``sacct`` does not
    show yet (accounting lags behind submission by a moment)."""
    if not job_ids:
        return {}
    proc = slurm_call(['squeue', '-h', '-j', ','.join(job_ids), '-o', '%i|%T'], check=False)
    out = {}
    for line in proc.stdout.splitlines():
        job_id, _, state = line.partition('|')
        out[job_id.strip()] = state.strip()
    return out


def job_summary(job_id: str, attempts: List[dict]) -> dict:
    """The job's final attempt and its history, for the report."""
    last = attempts[-1]
    state = last['State'].split()[0]
    requeues = sum(1 for a in attempts[:-1] if a['State'].split()[0] in (
        'REQUEUED', 'PREEMPTED', 'TIMEOUT', 'NODE_FAIL'))
    return dict(job_id=job_id, state=state, detail=last['State'], exit_code=last['ExitCode'],
                reason=last['Reason'], start=last['Start'], end=last['End'],
                elapsed=last['Elapsed'], time_limit=last['Timelimit'], requeues=requeues,
                attempts=[a['State'] for a in attempts])


class SlurmLauncher(Launcher):
    """One Slurm job per run (see the module's docstring).

    Args:
        settings (LaunchSettings): ``launcher='slurm'`` settings (partition, time, signal delay,
            GPU request form, max requeues, extra sbatch/srun arguments).
        repo_root (str): Repository root (jobs run there).
        python (str): Interpreter of the jobs. Defaults to this one.
        poll_s (float): Seconds between ``sacct`` polls while waiting. Defaults to 10.
    """
    name = 'slurm'
    blocking = False

    def __init__(self, settings: LaunchSettings, repo_root: str, python: str = sys.executable,
                 poll_s: float = 10.0):
        self.settings = settings
        self.repo_root = repo_root
        self.python = python
        self.poll_s = poll_s
        self.partition: Optional[str] = None
        self.work_dir: Optional[str] = None

    # what a job asks for -------------------------------------------------------------------------
    def _resources(self, run: Run) -> dict:
        recipe = run.recipe
        tasks = recipe.gpus_per_node if recipe.gpus_per_node else recipe.gpus
        params = dict(nodes=recipe.nodes, ntasks_per_node=tasks,
                      cpus_per_task=self.settings.cpus_per_task)
        if self.settings.device == 'cuda' and recipe.gpus_per_node:
            if self.settings.gpu_request == 'gres':
                params['gres'] = f'gpu:{recipe.gpus_per_node}'
            else:
                params['gpus_per_node'] = recipe.gpus_per_node
        return params

    def sbatch_flags(self, run: Run, after: Optional[List[str]] = None) -> List[str]:
        """The sbatch options of a run's job (resources, time, signal, requeue, dependency)."""
        flags = [f"--{k.replace('_', '-')}={v}" for k, v in self._resources(run).items()]
        if self.partition:
            flags.append(f'--partition={self.partition}')
        flags += [f'--time={self.settings.time or "<partition default>"}',
                  f'--signal=USR2@{self.settings.signal_delay_s}', '--requeue']
        if after:
            flags += [f"--dependency=afterok:{':'.join(after)}", '--kill-on-invalid-dep=yes']
        return flags + list(self.settings.sbatch_args)

    def commands(self, run: Run) -> Dict[str, List[str]]:
        options = ['--cfg-options', *run_options(run)]
        train = [] if run.evaluate_only else [
            'tools/train.py', run.config, '--work-dir', run.work_dir, '--launcher', 'slurm',
            *options]
        checkpoint = run.pretrained if run.evaluate_only else '<last checkpoint of the run>'
        test = ['tools/test.py', run.config, checkpoint, '--work-dir', run.work_dir,
                '--launcher', 'slurm', '--out', f'{run.work_dir}/test_metrics.json', *options]
        deps = [f'<job of {name}>' for name in run.depends_on]
        return dict(sbatch=['sbatch', *self.sbatch_flags(run, deps or None)],
                    train_command=train, test_command=test,
                    note=['every task of the job runs these in process (one rank each)'])

    @property
    def _extra_sbatch(self) -> Dict[str, object]:
        """``--sbatch-args`` as submitit's additional parameters (``--key=value`` / ``--flag``)."""
        extra: Dict[str, object] = {}
        for arg in self.settings.sbatch_args:
            if not arg.startswith('--'):
                raise SlurmError(f'--sbatch-args: {arg!r} is not of the form --key=value or '
                                 '--flag (write "-A lab" as "--account=lab").')
            key, _, value = arg[2:].partition('=')
            extra[key] = value or True
        return extra

    def check(self) -> None:
        """The partition exists, Slurm answers, accounting works and submitit is installed."""
        self._extra_sbatch  # noqa: B018  refuse malformed --sbatch-args first
        self.partition = check_partition(self.settings.partition)
        try:
            import submitit  # noqa: F401
        except ImportError:
            raise SlurmError('--launcher slurm needs submitit (pip install submitit==1.5.4; '
                             'tools/setup_env.sh installs it).') from None
        proc = slurm_call(['sacct', '-n', '-X', '-j', '1'], check=False)
        if proc.returncode != 0:
            raise SlurmError(f'`sacct` does not work here ({proc.stderr.strip()[:200]}): the '
                             'benchmark reads final job states from Slurm accounting '
                             '(slurmdbd); tools/slurm/start_local_slurm.sh sets it up locally.')

    # bookkeeping -------------------------------------------------------------------------------
    def _jobs_path(self) -> str:
        if self.work_dir is None:
            raise RuntimeError('SlurmLauncher.bind(work_dir) must come first.')
        return osp.join(self.work_dir, 'slurm', JOBS_FILE)

    def _read_jobs(self) -> Dict[str, dict]:
        path = self._jobs_path()
        if not osp.isfile(path):
            return {}
        with open(path) as f:
            return json.load(f)

    def _write_jobs(self, jobs: Dict[str, dict]) -> None:
        path = self._jobs_path()
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path + '.tmp', 'w') as f:
            json.dump(jobs, f, indent=2)
        os.replace(path + '.tmp', path)

    # submit ------------------------------------------------------------------------------------
    def _executor(self):
        import submitit
        folder = osp.join(osp.dirname(self._jobs_path()), 'jobs', '%j')
        return submitit.SlurmExecutor(folder=folder, python=shlex.quote(self.python))

    def launch(self, runs: List[Run], events: Optional[Events] = None,
               all_runs: Optional[List[Run]] = None) -> None:
        """Submit every run; a run waits for the jobs of the runs it depends on (submitted now
        or still queued or running from an earlier invocation); a dependency that is done needs
        no waiting (its job may be gone from the controller)."""
        if not runs:
            return
        if self.partition is None:
            self.check()
        jobs = self._read_jobs()
        states = self.collect(all_runs or runs)
        self._test_submission(runs[0])
        executor = self._executor()
        time_limit = self.settings.time or partition_time(self.partition)
        for run in runs:
            after, blocked = [], None
            for dep in run.depends_on:
                dep_state = states.get(dep)
                if dep_state is not None and dep_state.state == 'done':
                    continue
                if dep in jobs and (dep_state is None or dep_state.active):
                    after.append(jobs[dep]['job_id'])
                else:
                    blocked = dep
            if blocked:
                write_status(run, dict(state='failed', stage='schedule', error=(
                    f'not submitted: {blocked} did not finish (see its log); run the benchmark '
                    'again without --no-retry-failed to resubmit both')))
                continue
            params = dict(self._resources(run), job_name=run.name.replace('/', '.'),
                          partition=self.partition, time=time_limit,
                          signal_delay_s=self.settings.signal_delay_s, stderr_to_stdout=True,
                          setup=[f'export PYTHONPATH={shlex.quote(self.repo_root)}:$PYTHONPATH',
                                 f'export OMP_NUM_THREADS={self.settings.cpus_per_task}',
                                 f'cd {shlex.quote(self.repo_root)}'],
                          srun_args=list(self.settings.srun_args))
            additional = dict(requeue=True)
            if after:
                additional.update(dependency=f"afterok:{':'.join(after)}",
                                  **{'kill-on-invalid-dep': 'yes'})
            additional.update(self._extra_sbatch)
            executor.update_parameters(additional_parameters=additional, **params)
            job = executor.submit(RunJob(run, self.repo_root, self.settings.max_requeues))
            previous = jobs.get(run.name)
            jobs[run.name] = dict(job_id=str(job.job_id), submitted=time.time(), after=after,
                                  earlier=(previous or {}).get('earlier', []) + (
                                      [previous['job_id']] if previous else []))
            status = read_status(run)
            if status.get('state') == 'failed':  # the new job starts from a clean state
                write_status(run, dict(status, state='submitted', job_id=str(job.job_id)))
            self._write_jobs(jobs)
            states[run.name] = RunState('queued', active=True, job=dict(job_id=str(job.job_id)))
            if events is not None:
                events.started(run)
            print(f'submitted {run.name} as job {job.job_id}'
                  + (f" (after {', '.join(after)})" if after else ''), flush=True)

    def _test_submission(self, run: Run) -> None:
        """``sbatch --test-only`` with the first run's resources: bad options (an unknown
        account, a GPU request the cluster cannot satisfy) are refused before anything is
        queued."""
        flags = [f for f in self.sbatch_flags(run) if not f.startswith('--time=<')]
        if self.settings.time is None:
            flags.append(f'--time={partition_time(self.partition)}')
        slurm_call(['sbatch', '--test-only', *flags, '--wrap', 'true'])

    # states ------------------------------------------------------------------------------------
    def collect(self, runs: List[Run]) -> Dict[str, RunState]:
        """Each run's state: its status file for what it did, ``sacct`` for its job."""
        jobs = self._read_jobs()
        ids = sorted({j['job_id'] for j in jobs.values()})
        attempts = read_sacct(ids) if ids else {}
        queued = queued_jobs([i for i in ids if i not in attempts])
        states = {}
        for run in runs:
            status = read_status(run)
            job = jobs.get(run.name)
            if status.get('state') == 'done':
                states[run.name] = RunState('done', status, job=dict(job_id=job['job_id'])
                                            if job else {})
                continue
            if job is None:
                state = status.get('state', 'not run')
                states[run.name] = RunState('failed' if state == 'failed' else 'not run',
                                            status, status.get('error', ''))
                continue
            job_id = job['job_id']
            if job_id not in attempts:  # not in accounting yet, or older than its records
                if job_id in queued:
                    states[run.name] = RunState('queued', status, active=True,
                                                job=dict(job_id=job_id, state=queued[job_id]))
                else:
                    states[run.name] = RunState('failed', status, (
                        f'job {job_id} is unknown to sacct and squeue (submitted '
                        f"{time.ctime(job['submitted'])}); run the benchmark again to resubmit"),
                        job=dict(job_id=job_id))
                continue
            summary = job_summary(job_id, attempts[job_id])
            slurm_state = summary['state']
            if slurm_state in ACTIVE_STATES:
                states[run.name] = RunState('running' if slurm_state == 'RUNNING' else 'queued',
                                            status, active=True, job=summary)
            elif slurm_state == 'CANCELLED':
                never_ran = summary['start'] in ('', 'None', 'Unknown')
                if run.depends_on and (summary['reason'] == 'DependencyNeverSatisfied'
                                       or never_ran):
                    why = (f"cancelled by Slurm: {', '.join(run.depends_on)} did not finish "
                           f"(job {job_id}, reason {summary['reason']})")
                else:
                    why = f"job {job_id} {summary['detail']} (scancel?)"
                states[run.name] = RunState('cancelled', status, why, job=summary)
            else:
                states[run.name] = RunState('failed', status,
                                            self._failure(run, status, summary), job=summary)
        return states

    def _failure(self, run: Run, status: dict, summary: dict) -> str:
        meaning = STATE_MEANINGS.get(summary['state'], summary['state'].lower())
        why = (f"job {summary['job_id']} {summary['detail']}: {meaning} (exit code "
               f"{summary['exit_code']}, reason {summary['reason']}, time limit "
               f"{summary['time_limit']}, ran {summary['elapsed']}"
               + (f", requeued {summary['requeues']}x" if summary['requeues'] else '') + ')')
        if summary['state'] == 'COMPLETED':
            why = (f"job {summary['job_id']} ended without finishing the run (state "
                   f"{status.get('state', 'none')})")
        tail = status.get('error') if status.get('state') == 'failed' else failure_text(run)
        return f'{why}; end of its log ({log_path(run)}):\n{tail or "(empty)"}\n{why}'

    def wait(self, runs: List[Run], progress=None) -> None:
        """Poll ``sacct`` until no run is queued or running."""
        while True:
            states = self.collect(runs)
            active = [name for name, state in states.items() if state.active]
            if not active:
                return
            if progress is not None:
                done = sum(1 for s in states.values() if s.state == 'done')
                progress.done = done
                progress.show(None, f'{len(active)} job(s) queued or running')
            time.sleep(self.poll_s)


# Inside the job ---------------------------------------------------------------------------------
def requeue_self(reason: str) -> None:
    """``scontrol requeue`` this job (rank 0 only) and leave; Slurm starts it again later."""
    job_id = os.environ.get('SLURM_ARRAY_JOB_ID') or os.environ['SLURM_JOB_ID']
    print(f'[mmgcp] {reason}: requeueing job {job_id}', flush=True)
    subprocess.run(['scontrol', 'requeue', job_id], check=False)


class RunJob:
    """The job of one run: executed by every task (rank) of its Slurm job.

    Args:
        run (Run): The planned run.
        repo_root (str): Repository root.
        max_requeues (int): Requeues at the time limit before the run counts as failed.
    """

    def __init__(self, run: Run, repo_root: str, max_requeues: int):
        self.run = run
        self.repo_root = repo_root
        self.max_requeues = max_requeues

    def __call__(self) -> str:
        import submitit
        env = submitit.JobEnvironment()
        rank = env.global_rank
        os.chdir(self.repo_root)
        import mmgcp  # noqa: F401  registers mmgcp's modules
        from mmgcp.engine.hooks import signal_checkpoint_hook as hook_module

        from ..inprocess import InProcessToolCalls
        restarts = int(os.environ.get('SLURM_RESTART_COUNT', '0'))
        run = self.run
        print(f'[mmgcp] {run.name}: rank {rank} of {env.num_tasks}, start {restarts + 1}',
              flush=True)

        main_pid = os.getpid()

        def time_limit_outside_training(signum, frame):
            # SignalCheckpointHook replaces this handler while training; here the job is
            # evaluating or setting up: nothing to save, start again later. A forked child (a
            # dataloader worker) that inherited the handler leaves this to the main process.
            if os.getpid() != main_pid:
                return
            if rank == 0:
                requeue_self('time limit near outside training')
            raise SystemExit(75)

        signal.signal(signal.SIGUSR2, time_limit_outside_training)
        status = execute_run(run, InProcessToolCalls(self.repo_root, 'slurm'),
                             on_stage=lambda stage: print(f'[mmgcp] {run.name}: {stage}',
                                                          flush=True), rank=rank)
        if status['state'] == INTERRUPTED:
            stop = hook_module.LAST_INTERRUPTION
            if rank == 0 and stop.get('signal') == 'SIGUSR2':
                if restarts >= self.max_requeues:
                    write_status(run, dict(read_status(run), state='failed', stage='train',
                                           error=f'stopped at the time limit {restarts + 1} '
                                           'times (--slurm-max-requeues); give it a longer '
                                           '--slurm-time'))
                    raise SystemExit(1)
                requeue_self(f"time limit near: saved {stop.get('checkpoint')}")
            raise SystemExit(75)
        if status['state'] != 'done':
            raise RuntimeError(f"{run.name} {status['state']}: {status.get('error', '')}")
        return 'done'
