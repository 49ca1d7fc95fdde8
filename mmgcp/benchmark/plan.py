# Copyright (c) mmgcp contributors. All rights reserved.
"""The plan of a benchmark: every run with its recipe (world size, batch, lr), its dependencies,
its commands, and every input it needs, checked before anything starts.

A run keeps the recipe its config was published with: the number of GPUs comes from the
OpenMMLab name (``..._8xb32_...`` = 8 GPUs x 32 images, ``..._4xb4-160k_...`` = 4 x 4) or, for
mmdet's schedule names without it (``..._1x_coco``), mmdet's convention of 8 GPUs; the images per
GPU from ``train_dataloader.batch_size`` (after every option of the run). The total batch is never
changed silently: a run that needs more GPUs than it gets is an error unless ``auto_scale_lr`` is
asked for, which then scales the lr linearly (mmengine's ``auto_scale_lr``) and says so.
"""
import argparse
import copy
import json
import math
import os
import os.path as osp
import re
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Tuple

from mmengine.config import Config, DictAction

from .experiment import Recipe, Run

PLAN_FILE = 'plan.json'
#: ``_8xb32_`` in an OpenMMLab config name: GPUs x images per GPU.
RECIPE_NAME = re.compile(r'[_-](\d+)xb(\d+)(?=[_.-])')
#: World size of configs whose name has no ``NxbM`` (mmdet's ``1x``/``2x`` schedules are for 8 GPUs
#: x 2 images, see mmdet's config README).
LIBRARY_DEFAULT_GPUS = {'det': 8}
LAUNCHERS = ('none', 'pytorch', 'slurm')
DEVICES = ('cuda', 'cpu')
#: How a Slurm job asks for its GPUs: ``--gpus-per-node=N`` (needs select/cons_tres) or
#: ``--gres=gpu:N`` (what older or differently configured clusters take).
GPU_REQUESTS = ('gpus-per-node', 'gres')
#: Slurm ``--time`` forms: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS.
_SLURM_TIME = re.compile(r'^(\d+-)?\d+(:\d{1,2}){0,2}$')

#: How to get a missing data set, by dataset type (``{path}`` is the missing path).
HOW_TO_GET = {
    'CocoDataset': 'COCO 2017 (train2017/, val2017/, annotations/instances_*2017.json) from '
                   'https://cocodataset.org/#download, unpacked so that {path} exists '
                   '(mmdet docs, "Dataset Prepare")',
    'ADE20KDataset': 'ADEChallengeData2016.zip from http://sceneparsing.csail.mit.edu, unpacked '
                     'so that {path} exists (mmseg docs, "Dataset Preparing")',
    'ImageNet': 'ILSVRC2012 train/ and val/ (class folders) and meta/{{train,val}}.txt from '
                'https://image-net.org, so that {path} exists (mmpretrain docs, '
                '"Prepare Dataset")',
}


@dataclass
class LaunchSettings:
    """How the runs of a benchmark are launched.

    Args:
        launcher (str): ``'none'`` (one process per run), ``'pytorch'`` (``tools/dist_train.sh``
            with the recipe's world size) or ``'slurm'`` (one ``sbatch`` job per run, ``srun``
            inside). Defaults to ``'none'``.
        gpus (int, optional): GPUs per node (``slurm``) or on this machine (``none``/``pytorch``).
            None: the GPUs torch sees here (``slurm`` needs it given).
        device (str): What the experiment's recipes are sized for: ``'cuda'`` or ``'cpu'`` (the
            toy preset; then each GPU of the recipe is one CPU process). Defaults to ``'cuda'``.
        auto_scale_lr (bool): When a run gets fewer GPUs than its recipe, scale its lr linearly
            instead of stopping. Defaults to False.
        partition (str, optional): Slurm partition (default: the cluster's default partition).
        cpus_per_task (int): CPUs per process. Defaults to 1 on CPU recipes, 5 on GPU ones.
        sbatch_args (list[str]): Extra ``sbatch`` arguments.
        srun_args (list[str]): Extra ``srun`` arguments.
        time (str, optional): Slurm ``--time`` of every job (e.g. ``'2-00:00:00'``); a job
            reaching it is signalled ``signal_delay_s`` before, saves a checkpoint, requeues
            itself and resumes. Defaults to None (the partition's limit).
        signal_delay_s (int): Seconds before the time limit at which Slurm signals the job.
            Defaults to 120.
        gpu_request (str): ``'gpus-per-node'`` or ``'gres'`` (:data:`GPU_REQUESTS`).
            Defaults to ``'gpus-per-node'``.
        max_requeues (int): How often a job may requeue itself after its time limit before the
            run is reported failed. Defaults to 20.
    """
    launcher: str = 'none'
    gpus: Optional[int] = None
    device: str = 'cuda'
    auto_scale_lr: bool = False
    partition: Optional[str] = None
    cpus_per_task: Optional[int] = None
    sbatch_args: List[str] = field(default_factory=list)
    srun_args: List[str] = field(default_factory=list)
    time: Optional[str] = None
    signal_delay_s: int = 120
    gpu_request: str = 'gpus-per-node'
    max_requeues: int = 20

    def __post_init__(self):
        if self.launcher not in LAUNCHERS:
            raise ValueError(f'unknown launcher {self.launcher!r}; use one of {LAUNCHERS}.')
        if self.device not in DEVICES:
            raise ValueError(f'device must be one of {DEVICES}, got {self.device!r}.')
        if self.gpus is not None and self.gpus < 0:
            raise ValueError(f'--gpus must be >= 0, got {self.gpus}.')
        if self.launcher != 'slurm':
            given = [name for name, value in (('--slurm-partition', self.partition),
                                              ('--sbatch-args', self.sbatch_args),
                                              ('--srun-args', self.srun_args),
                                              ('--slurm-time', self.time)) if value]
            if given:
                raise ValueError(f'{", ".join(given)} only apply to --launcher slurm (got '
                                 f'--launcher {self.launcher}).')
        if self.gpu_request not in GPU_REQUESTS:
            raise ValueError(f'--slurm-gpu-request {self.gpu_request!r} is not one of '
                             f'{GPU_REQUESTS}.')
        if self.time is not None and not _SLURM_TIME.match(str(self.time)):
            raise ValueError(f"--slurm-time {self.time!r} is not a Slurm time: use minutes "
                             "('90'), 'HH:MM:SS' or 'D-HH:MM:SS' (e.g. '2-00:00:00').")
        if self.signal_delay_s < 1:
            raise ValueError(f'--slurm-signal-delay must be >= 1 s, got {self.signal_delay_s}.')
        if self.cpus_per_task is None:
            self.cpus_per_task = 1 if self.device == 'cpu' else 5

    def gpus_here(self) -> int:
        """GPUs available to one run (per node for Slurm)."""
        if self.gpus is not None:
            return self.gpus
        if self.launcher == 'slurm' and self.device == 'cuda':
            raise ValueError('--launcher slurm needs --gpus N: the GPUs per node of the '
                             'partition (e.g. --gpus 8).')
        import torch
        return torch.cuda.device_count()


def parse_cfg_options(options: List[str]) -> dict:
    """``['a.b=1', ...]`` -> ``{'a.b': 1}``, parsed exactly as ``tools/train.py`` parses them."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    return parser.parse_args(['--cfg-options', *options]).cfg_options if options else {}


def recipe_gpus(config: str, kind: str) -> Tuple[int, str]:
    """The world size a config was published with and where it comes from."""
    match = RECIPE_NAME.search(osp.basename(config))
    if match:
        return int(match.group(1)), f'name {match.group(0).strip("_-.")}'
    if kind in LIBRARY_DEFAULT_GPUS:
        return LIBRARY_DEFAULT_GPUS[kind], 'mmdet default (8 GPUs)'
    raise ValueError(f'{config}: the name says nothing about the GPU count of its recipe; name it '
                     'the OpenMMLab way (e.g. ..._8xb32_...) so the benchmark can keep the recipe.')


def _datasets(dataset: dict):
    """A dataloader's dataset and the datasets inside wrappers (Concat/Repeat/ClassBalanced)."""
    if not isinstance(dataset, dict):
        return
    if 'dataset' in dataset:
        yield from _datasets(dataset['dataset'])
    elif 'datasets' in dataset:
        for inner in dataset['datasets']:
            yield from _datasets(inner)
    else:
        yield dataset


def _join(root: str, path: str) -> str:
    return path if not root or osp.isabs(path) or path.startswith(root) else osp.join(root, path)


def required_inputs(cfg: Config, splits=('train', 'val', 'test')) -> List[dict]:
    """Every data folder and annotation file a config reads: ``[{path, kind, dataset}]``."""
    needed = []
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        for ds in _datasets((loader or {}).get('dataset')):
            root = ds.get('data_root') or ''
            dtype = str(ds.get('type', 'dataset')).split('.')[-1]
            if root:
                needed.append(dict(path=root, kind='dir', dataset=dtype))
            if ds.get('ann_file'):
                needed.append(dict(path=_join(root, ds['ann_file']), kind='file', dataset=dtype))
            prefix = ds.get('data_prefix')
            prefixes = list(prefix.values()) if isinstance(prefix, dict) else [prefix]
            prefixes = [p for p in prefixes if isinstance(p, str) and p]
            for p in prefixes:
                needed.append(dict(path=_join(root, p), kind='dir', dataset=dtype))
            if not prefixes and ds.get('split') and root:  # mmpretrain's ImageNet(split=...)
                needed.append(dict(path=osp.join(root, ds['split']), kind='dir', dataset=dtype))
        evaluators = cfg.get(f'{split}_evaluator') if split != 'train' else None
        for ev in evaluators if isinstance(evaluators, list) else [evaluators]:
            if isinstance(ev, dict) and ev.get('ann_file'):
                needed.append(dict(path=ev['ann_file'], kind='file',
                                   dataset=str(ev.get('type', 'evaluator')).split('.')[-1]))
    unique = {}
    for item in needed:
        unique.setdefault(osp.normpath(item['path']), item)
    return list(unique.values())


_PARSED: Dict[tuple, Config] = {}


def _parsed_config(path: str) -> Config:
    """A config parsed once per process (and file version); no module it names is imported."""
    key = (osp.abspath(path), os.stat(path).st_mtime_ns)
    if key not in _PARSED:
        _PARSED[key] = Config.fromfile(path, import_custom_modules=False)
    return _PARSED[key]


def run_config(run: Run, repo_root: str = '') -> Config:
    """The run's config with its ``cfg_options`` merged, as the tools will see it (each file is
    parsed once per process; the modules it names are not imported).

    Args:
        run (Run): The run.
        repo_root (str): What a relative ``run.config`` is relative to. Defaults to the current
            directory.
    """
    cfg = copy.deepcopy(_parsed_config(osp.join(repo_root, run.config)))
    cfg.merge_from_dict(parse_cfg_options(run.cfg_options))
    return cfg


def _world_size(run_name: str, gpus: int, settings: LaunchSettings) -> dict:
    """Processes, nodes and lr scaling of a run whose recipe asks for ``gpus`` GPUs."""
    if settings.device == 'cpu':  # one CPU process per GPU of the recipe
        # --launcher none runs one process; --gpus caps the processes of the others (what the
        # machine or one node holds).
        here = 1 if settings.launcher == 'none' else (settings.gpus or gpus)
        if gpus <= here:
            return dict(world_size=gpus, nodes=1, scaled=False)
        if settings.auto_scale_lr:
            return dict(world_size=here, nodes=1, scaled=True)
        return dict(error=f'{run_name}: its recipe has {gpus} processes, {here} '
                    f'{"is" if here == 1 else "are"} allowed here (--launcher '
                    f'{settings.launcher}{f" --gpus {settings.gpus}" if settings.gpus else ""}); '
                    'add --auto-scale-lr to train on fewer with a linearly scaled lr.')
    here = settings.gpus_here() if settings.launcher != 'none' else min(
        1, settings.gpus_here())
    if here == 0:
        return dict(error=f'{run_name}: its recipe is for {gpus} GPU(s) but '
                    f'{"--gpus 0 says" if settings.gpus == 0 else "torch sees"} no GPU here; '
                    'run it where GPUs are (e.g. --launcher slurm --gpus 8).')
    if settings.launcher == 'slurm':  # spans nodes when the recipe needs more than one has
        nodes = math.ceil(gpus / here)
        return dict(world_size=gpus, nodes=nodes, gpus_per_node=min(gpus, here), scaled=False)
    if gpus <= here:
        return dict(world_size=gpus, nodes=1, gpus_per_node=gpus, scaled=False)
    if settings.auto_scale_lr:
        return dict(world_size=here, nodes=1, gpus_per_node=here, scaled=True)
    return dict(error=f'{run_name}: its recipe is for {gpus} GPUs, {here} '
                f'{"is" if here == 1 else "are"} available to --launcher {settings.launcher}; '
                'use --launcher slurm (spans nodes), more GPUs (--launcher pytorch --gpus N), or '
                '--auto-scale-lr to train on fewer with a linearly scaled lr.')


def _lr(cfg: Config) -> Optional[float]:
    optimizer = (cfg.get('optim_wrapper') or {}).get('optimizer') or cfg.get('optimizer') or {}
    lr = optimizer.get('lr')
    return float(lr) if lr is not None else None


def plan_runs(exp: Config, runs: List[Run], settings: LaunchSettings,
              repo_root: str = '.') -> Tuple[List[dict], List[str]]:
    """Give every run its recipe (:attr:`Run.recipe`) and check every input, without reading
    any weights or images.

    Args:
        exp (Config): Experiment from :func:`~mmgcp.benchmark.experiment.load_experiment`.
        runs (list[Run]): Its runs (:func:`~mmgcp.benchmark.experiment.expand_runs`); changed in
            place.
        settings (LaunchSettings): How runs are launched.
        repo_root (str): Repository root (relative paths of the configs start there).

    Returns:
        tuple[list[dict], list[str]]: Missing inputs (``path``, ``kind``, ``how``, ``needed_by``)
        and problems (a run that cannot keep its recipe, a config that does not exist).
    """
    toy_root = (exp.get('toy_data') or {}).get('out_dir') if exp.get('toy_data') else None
    missing: Dict[str, dict] = {}
    errors: List[str] = []

    def need(path: str, kind: str, run: Run, how: str) -> None:
        full = path if osp.isabs(path) else osp.join(repo_root, path)
        if (osp.isdir(full) if kind == 'dir' else osp.isfile(full)):
            return
        if toy_root and osp.abspath(full).startswith(osp.abspath(osp.join(repo_root, toy_root))):
            return  # written by the toy_data step before any run starts
        entry = missing.setdefault(path, dict(path=path, kind=kind, how=how, needed_by=[]))
        entry['needed_by'].append(run.name)

    for run in runs:
        if not exp.get('pretrain', False) and not run.from_scratch:
            ckpt = exp.variants[run.variant].checkpoint
            need(ckpt, 'file', run, f'the pretrained {run.variant} classifier: convert a '
                 'published checkpoint with tools/model_converters/gcp2mmpretrain.py (or train '
                 f'{exp.variants[run.variant].get("pretrain_config", "its pretrain config")}) '
                 f'and set variants.{run.variant}.checkpoint (docs/checkpoints.md)')
        config_path = osp.join(repo_root, run.config) if not osp.isabs(run.config) else run.config
        if not osp.isfile(config_path):
            errors.append(f'{run.name}: config {run.config} does not exist (check the experiment '
                          'config\'s pretrain_config / tasks.*.config).')
            continue
        cfg = run_config(run, repo_root)
        for item in required_inputs(cfg, ('test', ) if run.evaluate_only else
                                    ('train', 'val', 'test')):
            how = HOW_TO_GET.get(item['dataset'], 'the {dataset} data set; see its library\'s '
                                 'dataset preparation docs').format(path=item['path'],
                                                                    dataset=item['dataset'])
            need(item['path'], item['kind'], run, how)
        try:
            gpus, source = recipe_gpus(run.config, run.kind)
        except ValueError as err:
            errors.append(str(err))
            continue
        per_gpu = int(cfg.train_dataloader.batch_size)
        base_lr = _lr(cfg)
        launch = _world_size(run.name, gpus, settings)
        if 'error' in launch:
            errors.append(launch['error'])
            launch = dict(world_size=gpus, nodes=1, scaled=False)
        world = launch['world_size']
        recipe_total = gpus * per_gpu
        total = world * per_gpu
        lr = base_lr * total / recipe_total if launch['scaled'] and base_lr else base_lr
        extra = []
        if launch['scaled'] and not run.evaluate_only:
            # mmengine scales lr by world_size * batch_size / base_batch_size.
            extra = [f'auto_scale_lr.base_batch_size={recipe_total}', 'auto_scale_lr.enable=True']
        run.recipe = Recipe(
            gpus=world, recipe_gpus=gpus, recipe_source=source, nodes=launch['nodes'],
            gpus_per_node=launch.get('gpus_per_node', 0 if settings.device == 'cpu' else world),
            samples_per_gpu=per_gpu, total_batch_size=total, recipe_total_batch_size=recipe_total,
            base_lr=base_lr, lr=lr, auto_scale_lr=bool(launch['scaled']), extra_cfg_options=extra)
    return list(missing.values()), errors


def plan_dict(runs: List[Run], settings: LaunchSettings, seeds: List[int], work_dir: str,
              missing: List[dict], errors: List[str],
              commands: Optional[Dict[str, Dict[str, List[str]]]] = None) -> dict:
    """What ``plan.json`` holds: every run (its recipe, dependencies and, when given, the
    commands its launcher executes), every missing input and problem, the launch settings."""
    entries = []
    for run in runs:
        entry = run.to_dict()
        entry.update((commands or {}).get(run.name, {}))
        entries.append(entry)
    return dict(runs=entries, missing=missing, errors=errors, settings=asdict(settings),
                seeds=list(seeds), work_dir=work_dir)


def write_plan(plan: dict, work_dir: str) -> str:
    """Write ``<work_dir>/plan.json`` atomically; returns its path."""
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, PLAN_FILE)
    with open(path + '.tmp', 'w') as f:
        json.dump(plan, f, indent=2)
    os.replace(path + '.tmp', path)
    return path


def read_plan(work_dir: str) -> dict:
    """The plan written by :func:`write_plan`."""
    with open(osp.join(work_dir, PLAN_FILE)) as f:
        return json.load(f)


def _fmt_lr(lr: Optional[float]) -> str:
    return '-' if lr is None else f'{lr:g}'


def plan_table(runs: List[Run]) -> str:
    """The plan as a Markdown table (one row per run)."""
    lines = ['| run | config | GPUs (nodes) | batch/GPU | total batch | lr | after |',
             '|---|---|---|---|---|---|---|']
    for run in runs:
        r = run.recipe
        if r is None:
            lines.append(f'| {run.name} | {run.config} | ? | ? | ? | ? | - |')
            continue
        what = 'eval only' if run.evaluate_only else str(r.total_batch_size)
        lr = _fmt_lr(r.lr) + (f' (scaled from {_fmt_lr(r.base_lr)})' if r.auto_scale_lr else '')
        lines.append(f'| {run.name} | {osp.basename(run.config)} | {r.gpus} ({r.nodes}) '
                     f'| {r.samples_per_gpu} | {what} | {lr} | '
                     f"{', '.join(run.depends_on) or '-'} |")
    return '\n'.join(lines)


def problems_text(missing: List[dict], errors: List[str]) -> str:
    """Every missing input (with how to get it) and every error of a plan, or ''."""
    lines = []
    if missing:
        lines.append(f'{len(missing)} input(s) missing:')
        for item in missing:
            users = item['needed_by']
            shown = ', '.join(users[:3]) + (f' and {len(users) - 3} more' if len(users) > 3 else '')
            lines.append(f"  - {item['path']} ({item['kind']}, needed by {shown})\n"
                         f"      get it: {item['how']}")
    if errors:
        lines.append(f'{len(errors)} problem(s):')
        lines += [f'  - {e}' for e in errors]
    return '\n'.join(lines)


def recipes_note(runs: List[Run]) -> str:
    """A line for ``results.md`` naming the runs trained on fewer processes than their recipe
    (lr scaled linearly), or ''."""
    scaled = [run for run in runs if run.recipe is not None and run.recipe.auto_scale_lr]
    if not scaled:
        return ''
    return ('Trained on fewer GPUs than their recipe, lr scaled linearly (--auto-scale-lr): ' +
            '; '.join(f'{run.name} {run.recipe.gpus}x{run.recipe.samples_per_gpu} (recipe '
                      f'{run.recipe.recipe_gpus}x{run.recipe.samples_per_gpu}), lr '
                      f'{run.recipe.lr:g} (recipe {run.recipe.base_lr:g})' for run in scaled))
