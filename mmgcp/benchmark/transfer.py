# Copyright (c) mmgcp contributors. All rights reserved.
"""The cross-task transfer benchmark: pretrain -> convert -> fine-tune -> evaluate -> report."""
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Optional

from mmengine.config import Config

from .experiment import Run, expand_runs
from .report import plot_results, write_results
from .runner import ToolLauncher, execute_run, extract_backbone, read_status, write_status


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


def prepare_toy_data(toy_data: dict, tools: ToolLauncher) -> None:
    """Generate the toy sets with ``tools/dataset_converters/make_toy_data.py`` (which skips sets
    that are already complete with the same settings)."""
    root = toy_data['out_dir']
    for name in ('cls', 'coco', 'ade20k'):
        args = []
        for key, value in (toy_data.get(name) or {}).items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        log = osp.join(root, f'make_toy_data_{name}.log')
        result = tools.call([tools.python, 'tools/dataset_converters/make_toy_data.py', name,
                             '--out-dir', root, *args], log)
        if result['returncode'] != 0:
            with open(log) as f:
                raise RuntimeError(f'generating the toy {name} set failed:\n{f.read()[-2000:]}')


def _pretrained_for(run: Run, exp: Config, work_dir: str, tools: ToolLauncher,
                    statuses: Dict[str, dict]) -> str:
    """Path of the trunk (or, for evaluate-only runs, the whole classifier) a run starts from."""
    variant_dir = osp.join(work_dir, 'runs', f'seed{run.seed}', run.variant)
    if exp.get('pretrain', False):
        pre = statuses.get(f'{run.variant}/pretrain/seed{run.seed}', {})
        if pre.get('state') != 'done':
            raise RuntimeError(f'pretraining of {run.variant} (seed {run.seed}) did not finish: '
                               f"{pre.get('error', pre.get('state', 'not run'))[-300:]}")
        source = pre['checkpoint']
    else:
        source = exp.variants[run.variant].checkpoint
        if not osp.isfile(source):
            raise FileNotFoundError(
                f'pretrained checkpoint {source} of variant {run.variant} does not exist; '
                'download the published checkpoint and set variants.'
                f'{run.variant}.checkpoint (see README, "Converting published checkpoints").')
    os.makedirs(variant_dir, exist_ok=True)
    full = osp.join(variant_dir, 'pretrained_mmpretrain.pth')
    if not osp.isfile(full):
        convert_checkpoint(source, full, tools)
    if run.evaluate_only:
        return full
    trunk = osp.join(variant_dir, 'pretrained_backbone.pth')
    if not osp.isfile(trunk):
        extract_backbone(full, trunk)
    return trunk


def convert_checkpoint(source: str, dst: str, tools: ToolLauncher) -> str:
    """mmpretrain-format checkpoints are linked as they are; published formats go through
    ``tools/model_converters/gcp2mmpretrain.py``."""
    import torch
    ckpt = torch.load(source, map_location='cpu', weights_only=False)
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else {}
    if any(k.startswith('backbone.') for k in state):
        os.symlink(osp.abspath(source), dst)
        return dst
    result = tools.call([tools.python, 'tools/model_converters/gcp2mmpretrain.py', source, dst],
                        dst + '.log')
    if result['returncode'] != 0:
        raise RuntimeError(f'converting {source} failed: see {dst}.log')
    return dst


def run_benchmark(exp: Config, work_dir: str, seeds: List[int], tools: ToolLauncher,
                  retry_failed: bool = True) -> dict:
    """Run (or resume) every run of an experiment and write the report.

    Args:
        exp (Config): Experiment config from :func:`load_experiment`.
        work_dir (str): Output folder.
        seeds (list[int]): Seeds to run.
        tools (ToolLauncher): How runs are launched.
        retry_failed (bool): Run failed runs again (finished ones are always skipped).

    Returns:
        dict: Paths of the written files, the Markdown table and the summary.
    """
    os.makedirs(work_dir, exist_ok=True)
    if exp.get('toy_data'):
        prepare_toy_data(exp.toy_data, tools)
    runs = expand_runs(exp, work_dir, seeds)
    from .runner import check_runs_data
    check_runs_data(runs)  # one clear error before any work when data is missing
    progress = Progress(len(runs))
    statuses: Dict[str, dict] = {}
    for run in runs:
        status = read_status(run)
        if status.get('state') == 'done' or (status.get('state') == 'failed' and not retry_failed):
            progress.done += 1
            progress.show(run, f"skipped ({status['state']} before)")
            statuses[run.name] = status
            continue
        progress.show(run, 'start')
        try:
            pretrained = None if run.task == 'pretrain' else _pretrained_for(
                run, exp, work_dir, tools, statuses)
        except (RuntimeError, FileNotFoundError, KeyError) as err:
            status = dict(state='failed', stage='convert', error=str(err))
            write_status(run, status)
        else:
            status = execute_run(run, tools, pretrained,
                                 on_stage=lambda stage, run=run: progress.show(run, stage))
        statuses[run.name] = status
        progress.done += 1
        progress.show(run, status['state'])
        write_results(work_dir, runs, [statuses.get(r.name, {}) for r in runs],
                      meta=dict(preset=exp.get('preset'), seeds=seeds))
    out = write_results(work_dir, runs, [statuses[r.name] for r in runs],
                        meta=dict(preset=exp.get('preset'), seeds=seeds))
    out['plots'] = plot_results(work_dir, runs, out['summary'])
    if exp.get('robustness'):  # optional stage: every finished run under corrupted inputs
        from mmgcp.robustness.stage import run_robustness_stage
        progress.show(None, 'robustness under corruptions')
        out['robustness'] = run_robustness_stage(exp, runs, statuses, tools, work_dir)
    return out
