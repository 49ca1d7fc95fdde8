# Copyright (c) mmgcp contributors. All rights reserved.
"""The commands that train and evaluate one run with its recipe's world size, per launcher.

- ``none``: ``python tools/train.py`` / ``tools/test.py`` (one process);
- ``pytorch``: ``tools/dist_train.sh`` / ``tools/dist_test.sh`` with the run's world size;
- ``slurm``: ``srun`` with the run's tasks (inside the run's ``sbatch`` job, see
  :mod:`mmgcp.benchmark.slurm`), ``--launcher slurm`` for both training and the distributed test.
"""
import os.path as osp
import sys
from typing import Dict, List, Optional

from .plan import LaunchSettings
from .runner import ToolLauncher


def srun_prefix(entry: dict, settings: LaunchSettings) -> List[str]:
    """``srun`` with the run's tasks, nodes and GPUs."""
    cmd = ['srun', f"--ntasks={entry['gpus']}", f"--nodes={entry['nodes']}",
           f'--cpus-per-task={settings.cpus_per_task}', '--kill-on-bad-exit=1']
    if settings.device == 'cuda':
        per_node = entry['gpus_per_node']
        cmd += [f'--ntasks-per-node={per_node}', f'--gpus-per-node={per_node}']
    return cmd + list(settings.srun_args)


def train_command(entry: dict, config: str, work_dir: str, args: List[str],
                  settings: LaunchSettings, python: str = 'python') -> List[str]:
    """The command that trains a planned run (``entry`` from :func:`build_plan`)."""
    if settings.launcher == 'pytorch':
        return ['bash', 'tools/dist_train.sh', config, str(entry['gpus']), '--work-dir', work_dir,
                *args]
    if settings.launcher == 'slurm':
        return [*srun_prefix(entry, settings), python, '-u', 'tools/train.py', config,
                '--work-dir', work_dir, '--launcher', 'slurm', *args]
    return [python, 'tools/train.py', config, '--work-dir', work_dir, *args]


def test_command(entry: dict, config: str, checkpoint: str, work_dir: str, args: List[str],
                 settings: LaunchSettings, python: str = 'python') -> List[str]:
    """The command that evaluates a planned run on as many processes as it trained on."""
    if settings.launcher == 'pytorch':
        return ['bash', 'tools/dist_test.sh', config, checkpoint, str(entry['gpus']),
                '--work-dir', work_dir, *args]
    if settings.launcher == 'slurm':
        return [*srun_prefix(entry, settings), python, '-u', 'tools/test.py', config, checkpoint,
                '--work-dir', work_dir, '--launcher', 'slurm', *args]
    return [python, 'tools/test.py', config, checkpoint, '--work-dir', work_dir, *args]


class RecipeLauncher(ToolLauncher):
    """A :class:`ToolLauncher` that launches every run with its own recipe (from the plan).

    The run is found by its work dir, so :func:`execute_run` works unchanged.

    Args:
        repo_root (str): Repository root.
        plan (dict): The plan from :func:`build_plan`.
        settings (LaunchSettings): How runs are launched.
        python (str): Interpreter. Defaults to the current one.
    """

    def __init__(self, repo_root: str, plan: dict, settings: LaunchSettings,
                 python: str = sys.executable):
        super().__init__(repo_root, 'none', python=python)
        self.launcher = settings.launcher
        self.settings = settings
        self.by_work_dir: Dict[str, dict] = {
            osp.normpath(r['work_dir']): r for r in plan['runs'] if 'gpus' in r}

    def _entry(self, work_dir: str) -> Optional[dict]:
        return self.by_work_dir.get(osp.normpath(work_dir))

    def train_cmd(self, config: str, work_dir: str, args: List[str]) -> List[str]:
        entry = self._entry(work_dir)
        if entry is None:
            raise KeyError(f'{work_dir} is not a run of the plan; rebuild the plan.')
        if entry['extra_cfg_options']:  # --cfg-options is the last flag execute_run passes
            flag = [] if '--cfg-options' in args else ['--cfg-options']
            args = [*args, *flag, *entry['extra_cfg_options']]
        return train_command(entry, config, work_dir, args, self.settings, self.python)

    def test_cmd(self, config: str, checkpoint: str, work_dir: str, args: List[str]) -> List[str]:
        entry = self._entry(work_dir)
        if entry is None:
            raise KeyError(f'{work_dir} is not a run of the plan; rebuild the plan.')
        return test_command(entry, config, checkpoint, work_dir, args, self.settings,
                            self.python)
