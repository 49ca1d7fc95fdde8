# Copyright (c) mmgcp contributors. All rights reserved.
"""Execute one planned run, resumably: train (or resume) with ``tools/train.py``, evaluate the
last checkpoint with ``tools/test.py``, leave what other runs start from, and (when the
experiment asks for it) evaluate it under corruptions. Every launcher calls this, in whatever
process executes the run; only how the tools are called differs (:mod:`.toolcalls`)."""
import json
import os.path as osp
import time
from typing import Callable, List, Optional

from mmgcp.engine import INTERRUPTED_EXIT_CODE
from mmgcp.utils import check_data, find_resumable_checkpoint, log_tail

from .experiment import Run
from .plan import run_config
from .pretrained import finish_pretraining
from .status import read_status, write_status
from .toolcalls import ToolCalls

#: ``state`` of a run whose training stopped on a signal after saving a checkpoint (it resumes).
INTERRUPTED = 'interrupted'


def check_runs_data(runs: List[Run], repo_root: str = '') -> None:
    """Raise one :class:`~mmgcp.utils.DataNotFoundError` before any run starts when the data of
    a run is missing (see :func:`mmgcp.utils.check_data`)."""
    checked = set()
    for run in runs:
        key = (run.config, tuple(run.cfg_options), run.evaluate_only)
        if key in checked:
            continue
        checked.add(key)
        check_data(run_config(run, repo_root),
                   ('test', ) if run.evaluate_only else ('train', 'val', 'test'),
                   config=f'{run.config} (run {run.name})')


def run_options(run: Run) -> List[str]:
    """The ``--cfg-options`` of every tool call of a run: the experiment's, the trunk it starts
    from, and what its recipe adds (a scaled lr)."""
    options = list(run.cfg_options)
    if run.pretrained is not None and run.checkpoint_option and not run.evaluate_only:
        options.append(f'{run.checkpoint_option}={run.pretrained}')
    if run.recipe is not None:
        options += run.recipe.extra_cfg_options
    return options


def log_path(run: Run, rank: int = 0) -> str:
    """The run's log (``run.log``; ``run.rank<R>.log`` for the other ranks of a Slurm job)."""
    return osp.join(run.work_dir, 'run.log' if rank == 0 else f'run.rank{rank}.log')


def execute_run(run: Run, tools: ToolCalls, on_stage: Callable[[str], None] = lambda s: None,
                rank: int = 0) -> dict:
    """Train (or resume) a run, then evaluate its last checkpoint with ``tools/test.py``.

    A finished run (status ``done``) is returned as is. A run whose training finished before
    (``trained`` in its status) is only evaluated. A failure is recorded in the status with the
    end of its log instead of raised, so other runs go on. Training stopped by a signal after
    saving a checkpoint (:class:`~mmgcp.engine.SignalCheckpointHook`) returns state
    :data:`INTERRUPTED`; the status stays ``running`` and the next execution resumes.

    Args:
        run (Run): The planned run.
        tools (ToolCalls): How the tools are called.
        on_stage (callable): Called with the stage name (for progress display).
        rank (int): This process's rank when every rank of a Slurm job executes the run; only
            rank 0 writes the status and the files other runs read. Defaults to 0.

    Returns:
        dict: The final status: state, metrics, wall time, peak memory, error.
    """
    status = read_status(run)
    if status.get('state') == 'done':
        return status
    leader = rank == 0
    log = log_path(run, rank)
    options = run_options(run)
    trained = status.get('trained') if status.get('state') == 'running' else None
    if trained and not osp.isfile(trained):
        trained = None
    resumed = (not run.evaluate_only and not trained
               and find_resumable_checkpoint(run.work_dir) is not None)
    status = dict(state='running', variant=run.variant, task=run.task, seed=run.seed,
                  config=run.config, resumed=resumed or bool(trained), started=time.time(),
                  attempts=int(status.get('attempts', 0)) + 1,
                  interruptions=list(status.get('interruptions', [])),
                  **(dict(trained=trained) if trained else {}))
    if leader:
        write_status(run, status)

    wall, peak = 0.0, 0.0

    def failed(stage: str) -> dict:
        status.update(state='failed', stage=stage, wall_time_s=wall, peak_rss_mb=peak,
                      error=log_tail(log))
        if leader:
            write_status(run, status)
        return status

    if run.evaluate_only:
        checkpoint = run.pretrained
    elif trained:
        checkpoint = trained
    else:
        on_stage('resume training' if resumed else 'train')
        args = (['--resume'] if resumed else []) + ['--cfg-options', *options]
        result = tools.train(run, args, log)
        wall, peak = result['wall_time_s'], result['peak_rss_mb']
        if result['returncode'] == INTERRUPTED_EXIT_CODE:
            saved = find_resumable_checkpoint(run.work_dir)
            status['interruptions'].append(dict(at=time.time(), checkpoint=saved))
            status.update(wall_time_s=wall, peak_rss_mb=peak)
            if leader:
                write_status(run, status)
            return dict(status, state=INTERRUPTED)
        if result['returncode'] != 0:
            return failed('train')
        checkpoint = find_resumable_checkpoint(run.work_dir)
        status['trained'] = checkpoint
        status.update(_batch_shape(run))
        if leader:
            write_status(run, status)

    on_stage('evaluate')
    metrics_path = osp.join(run.work_dir, 'test_metrics.json')
    result = tools.test(run, checkpoint or 'missing-checkpoint',
                        ['--out', metrics_path, '--cfg-options', *options], log)
    wall += result['wall_time_s']
    peak = max(peak, result['peak_rss_mb'])
    if result['returncode'] != 0 or (leader and not osp.isfile(metrics_path)):
        return failed('evaluate')
    if not leader:
        return dict(status, state='done')
    with open(metrics_path) as f:
        metrics = json.load(f)
    if run.task == 'pretrain':
        finish_pretraining(run, checkpoint)
    if run.robustness:
        on_stage('robustness')
        robustness = evaluate_robustness(run, checkpoint, tools)
        if robustness['returncode'] != 0:
            return failed('robustness')
    status.update(state='done', checkpoint=checkpoint, metrics=metrics, wall_time_s=wall,
                  peak_rss_mb=peak, finished=time.time())
    write_status(run, status)
    return status


def _batch_shape(run: Run) -> dict:
    """What the run's first training batch looked like (``BatchShapeHook``), if recorded."""
    from mmgcp.engine import BATCH_SHAPE_FILE
    try:
        with open(osp.join(run.work_dir, BATCH_SHAPE_FILE)) as f:
            return dict(train_batch=json.load(f))
    except (OSError, ValueError):
        return {}


def robustness_file(run: Run) -> str:
    """Where a run's evaluation under corruptions is written."""
    return osp.join(run.work_dir, 'robustness', 'robustness.json')


def evaluate_robustness(run: Run, checkpoint: str, tools: ToolCalls) -> dict:
    """Evaluate a run's checkpoint under the experiment's corruptions with
    ``tools/analysis/robustness.py`` (its own log: ``robustness/robustness.log``); a result that
    is already complete for this checkpoint and these conditions is kept."""
    from mmgcp.robustness.stage import is_complete, stage_conditions
    spec = stage_conditions(run.robustness)
    metric = run.metrics[0]
    out_dir = osp.dirname(robustness_file(run))
    if is_complete(robustness_file(run), checkpoint, metric, spec):
        return dict(returncode=0)
    args = [run.config, checkpoint, '--work-dir', out_dir, '--out-dir', out_dir, '--metric',
            metric, '--seed', str(spec['seed']), '--corruptions', *spec['corruptions'],
            '--severities', *[str(s) for s in spec['severities']]]
    if run.cfg_options:
        args += ['--cfg-options', *run.cfg_options]
    result = tools.script('tools/analysis/robustness.py', args,
                          osp.join(out_dir, 'robustness.log'))
    if result['returncode'] == 0 and not osp.isfile(robustness_file(run)):
        result['returncode'] = 1
    return result


def failure_text(run: Run) -> Optional[str]:
    """The end of a run's log, for a failure found from outside (a job that died)."""
    text = log_tail(log_path(run), 15)
    return text or None
