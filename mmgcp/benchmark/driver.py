# Copyright (c) mmgcp contributors. All rights reserved.
"""The one place that knows the order of a benchmark: start -> launcher -> finish.

- start: hold the work dir, expand the experiment into planned runs, write and print the plan,
  stop on any missing input; refuse runs made with other settings; make the toy data; check the
  data; convert the given checkpoints once.
- launcher: execute (or submit) the runs that are not done (:mod:`.launchers`).
- finish: read every run's state, write the report (table, comparisons including the
  from-scratch control, plateau checks), the plots with the control's line, and the robustness
  stage's summary.
Every launcher goes through the same start and finish; a launcher only decides how a run executes
and how its state is read.
"""
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Optional

from mmengine.config import Config

from .execute import check_runs_data, robustness_file
from .experiment import Run, expand_runs
from .launchers.base import Events, Launcher, RunState
from .lock import WorkDirLock
from .plan import (
    LaunchSettings,
    plan_dict,
    plan_runs,
    plan_table,
    problems_text,
    recipes_note,
    write_plan,
)
from .pretrained import prepare_published
from .report import plot_results, write_results
from .settings import attach_settings, check_settings
from .toy_data import prepare_toy_data


class PlanError(RuntimeError):
    """An input is missing or a run cannot keep its recipe: nothing was started."""


class Progress:
    """A one-line progress display: runs done / total and the current run's stage."""

    def __init__(self, total: int, stream=sys.stderr, width: int = 24):
        self.total, self.done, self.stream, self.width = total, 0, stream, width
        self.start = time.time()

    def show(self, run: Optional[Run], stage: str) -> None:
        filled = int(self.width * self.done / max(self.total, 1))
        bar = '#' * filled + '.' * (self.width - filled)
        current = f'{run.name}: {stage}' if run is not None else stage
        elapsed = time.time() - self.start
        self.stream.write(f'[{bar}] {self.done}/{self.total} runs | {elapsed:6.0f}s | '
                          f'{current}\n')
        self.stream.flush()


def _pending(runs: List[Run], states: Dict[str, RunState], retry_failed: bool) -> List[Run]:
    """The runs to launch: not done, not being executed elsewhere, and (unless
    ``retry_failed``) not failed before. Pretraining first (a stable sort keeps the order)."""
    pending = []
    for run in runs:
        state = states[run.name]
        if state.state == 'done' or state.active:
            continue
        if state.state in ('failed', 'cancelled') and not retry_failed:
            continue
        pending.append(run)
    return sorted(pending, key=lambda r: r.task != 'pretrain')


def start(exp: Config, work_dir: str, seeds: List[int], settings: LaunchSettings,
          launcher: Launcher, repo_root: str, stream=sys.stdout) -> List[Run]:
    """Expand, plan, print and check: the runs, ready to launch.

    Raises:
        PlanError: Some input is missing or a run cannot keep its recipe (the plan says which).
    """
    runs = expand_runs(exp, work_dir, seeds)
    missing, errors = plan_runs(exp, runs, settings, repo_root)
    commands = {run.name: launcher.commands(run) for run in runs if run.recipe is not None}
    path = write_plan(plan_dict(runs, settings, seeds, work_dir, missing, errors, commands),
                      work_dir)
    stream.write(f'Plan ({len(runs)} runs, launcher {settings.launcher}): {path}\n\n'
                 f'{plan_table(runs)}\n')
    problems = problems_text(missing, errors)
    if problems:
        stream.write(f'\n{problems}\n')
        stream.flush()
        raise PlanError(f'nothing started: fix the above first (plan: {path}).')
    stream.flush()
    return runs


def prepare(exp: Config, runs: List[Run], work_dir: str, repo_root: str,
            stream=sys.stdout) -> None:
    """Before any run starts: refuse runs made with other settings, make the toy data, check
    every run's data, convert the given checkpoints once."""
    attach_settings(runs, repo_root)
    check_settings(runs, work_dir)  # a run made with other settings is not reused
    if exp.get('toy_data'):
        prepare_toy_data(exp.toy_data, repo_root)
    check_runs_data(runs, repo_root)  # one clear error before any work when data is missing
    prepare_published(exp, runs, work_dir, repo_root, stream)


def finish(exp: Config, runs: List[Run], states: Dict[str, RunState], work_dir: str,
           launcher: Launcher, meta: Optional[dict] = None, final: bool = True) -> dict:
    """Write the report of every run that is not queued or running elsewhere (all of them, for
    a blocking launcher): results.json / .csv / .md and, when ``final``, metrics.png and
    val_curves.png with the from-scratch control's line, and the robustness stage's summary
    once no run is active."""
    ended = [run for run in runs if not states[run.name].active]
    scratch = next((n for n, v in exp.variants.items() if v.get('from_scratch')), None)
    meta = dict(meta or {}, preset=exp.get('preset'),
                seeds=sorted({r.seed for r in runs if r.seed is not None}),
                launcher=launcher.name, scratch=scratch,
                variants={k: dict(v) for k, v in exp.variants.items()},
                statistics=dict(exp.get('statistics') or {}),
                recipes={run.name: dict(vars(run.recipe)) for run in runs
                         if run.recipe is not None})
    out = write_results(work_dir, ended, [states[r.name].for_report() for r in ended],
                        meta=meta)
    note = recipes_note(ended)
    if note:
        with open(out['md'], 'a') as f:
            f.write(f'\n{note}\n')
    out['plots'], out['robustness'] = [], []
    if not final:
        return out
    out['plots'] = plot_results(work_dir, ended, out['summary'], scratch)
    if exp.get('robustness') and len(ended) == len(runs):
        from mmgcp.robustness.stage import stage_conditions, summarize_stage
        conditions = stage_conditions(exp.robustness, list(exp.variants))
        entries = []
        for run in runs:
            done = states[run.name].state == 'done' and osp.isfile(robustness_file(run))
            entries.append(dict(variant=run.variant, task=run.task, seed=run.seed,
                                metric=run.metrics[0], result_file=robustness_file(run),
                                state='done' if done else 'failed',
                                **({} if done else dict(error=states[run.name].error or
                                                        'the run did not finish'))))
        out['robustness'] = summarize_stage(entries, conditions, work_dir)
    return out


def run_benchmark(exp: Config, work_dir: str, seeds: List[int], settings: LaunchSettings,
                  launcher: Launcher, repo_root: str, retry_failed: bool = True,
                  dry_run: bool = False, wait: bool = True, stream=sys.stdout,
                  progress_stream=sys.stderr) -> Optional[dict]:
    """Run (or resume, or follow) every run of an experiment and write its report.

    Args:
        exp (Config): Experiment config from :func:`~mmgcp.benchmark.experiment.load_experiment`.
        work_dir (str): Output folder (made absolute).
        seeds (list[int]): Seeds to run.
        settings (LaunchSettings): How runs are launched (recipes, Slurm options).
        launcher (Launcher): What executes the runs (:mod:`mmgcp.benchmark.launchers`).
        repo_root (str): Repository root (configs, tools; runs execute there).
        retry_failed (bool): Launch failed runs again (finished ones are always kept).
        dry_run (bool): Stop after the plan.
        wait (bool): For a non-blocking launcher (Slurm): wait until every run has ended.
        stream: Where the plan and messages go. progress_stream: the progress lines.

    Returns:
        dict | None: The report (paths, tables, summary, comparisons, plateau, plots,
        robustness, ``states``), None for a dry run.

    Raises:
        PlanError, StaleRunsError, WorkDirBusyError, ...: Before any run starts.
    """
    work_dir = osp.abspath(work_dir)
    os.makedirs(work_dir, exist_ok=True)
    with WorkDirLock(work_dir) as lock:
        if lock.took_over:
            stream.write(f"(took over the lock left by pid {lock.took_over.get('pid')} on "
                         f"{lock.took_over.get('host')}, which is gone)\n")
        launcher.bind(work_dir)
        runs = start(exp, work_dir, seeds, settings, launcher, repo_root, stream)
        if dry_run:
            return None
        launcher.check()
        prepare(exp, runs, work_dir, repo_root, stream)
        states = launcher.collect(runs)
        pending = _pending(runs, states, retry_failed)
        progress = Progress(len(runs), progress_stream)
        for run in runs:
            if run not in pending:
                progress.done += 1
                state = states[run.name]
                progress.show(run, f'{state.state} (job {state.job.get("job_id")})'
                              if state.active else f'skipped ({state.state} before)')

        def finished(run: Run, status: dict) -> None:
            progress.done += 1
            progress.show(run, status.get('state', '?'))
            finish(exp, runs, launcher.collect(runs), work_dir, launcher,
                   _launcher_meta(launcher), final=False)

        events = Events(started=lambda run: progress.show(run, 'start'),
                        stage=progress.show, finished=finished)
        if pending:
            launcher.launch(pending, events, runs)
        if not launcher.blocking and wait:
            launcher.wait(runs, progress)
        states = launcher.collect(runs)
        out = finish(exp, runs, states, work_dir, launcher, _launcher_meta(launcher))
        out['states'] = states
        return out


def _launcher_meta(launcher: Launcher) -> dict:
    info = getattr(launcher, 'worker_info', None)
    return dict(workers=list(info.values())) if info else {}
